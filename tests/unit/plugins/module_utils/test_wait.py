# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""wait_for_marker's target side with a real AnsibleModule: woken by inotify, bounded by its timeout."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.modules import wait_for_marker
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_FAILED, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._wait import Wait, WaitForEach

DATA = b'payload\n'
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def data_path(tmp_path):
    return tmp_path / 'x.tar'


@pytest.fixture
def waiter(make_module, data_path):
    """``waiter(**options)``: a Wait for ``data_path`` with the given module options."""
    def make(**options):
        return Wait(make_module(wait_for_marker.argument_spec(), path=str(data_path), **options))
    return make


def publish(data_path, generation=1):
    data_path.write_bytes(DATA)
    Marker.complete(SHA, len(DATA), 'test', generation).write(str(data_path) + '.done')


def test_ready_hand_off_returns_at_once_with_what_it_saw(waiter, data_path):
    publish(data_path, generation=4)
    result = waiter(timeout=5).run()
    assert result['elapsed'] < 0.5
    assert {key: result[key] for key in ('changed', 'watch', 'sha256', 'size', 'generation')} == \
        dict(changed=False, watch='inotify', sha256=SHA, size=len(DATA), generation=4)
    assert result['marker']['sha256'] == SHA
    assert result['marker_path'] == str(data_path) + '.done'


def test_marker_published_later_wakes_the_waiter_long_before_its_sleep(waiter, data_path):
    producer = threading.Timer(0.2, publish, args=(data_path,))
    producer.start()
    result = waiter(timeout=10, sleep=30).run()
    producer.join()
    assert 0.1 <= result['elapsed'] < 1.0
    assert (result['watch'], result['sha256']) == ('inotify', SHA)


def test_timeout_names_the_marker_and_the_last_reason(waiter, data_path):
    data_path.write_bytes(DATA)
    with pytest.raises(HandoffError) as caught:
        waiter(timeout=0.3, sleep=0.05).run()
    assert caught.value.msg == ('timed out after 0.3s waiting for %s.done to be present: data file %s exists but '
                                'its marker %s.done does not: the producer is still writing, or stopped before '
                                'marking it complete' % (data_path, data_path, data_path))
    assert 0.3 <= caught.value.details['elapsed'] < 1.5
    assert caught.value.details['watch'] == 'inotify'


def test_timeout_zero_looks_once(waiter):
    started = time.monotonic()
    with pytest.raises(HandoffError, match='timed out after 0.0s'):
        waiter(timeout=0).run()
    assert time.monotonic() - started < 0.3


def test_failed_marker_ends_the_wait_at_once_with_the_producer_reason(waiter, data_path):
    Marker(STATE_FAILED, reason='disk full on the sender', producer='backup.sh').write(str(data_path) + '.done')
    with pytest.raises(HandoffError, match='the producer marked .* failed: disk full on the sender') as caught:
        waiter(timeout=10).run()
    assert caught.value.details['marker']['state'] == 'failed'
    assert caught.value.details['elapsed'] < 1.0


def test_newer_than_generation_waits_for_the_next_publication(waiter, data_path):
    publish(data_path, generation=1)
    producer = threading.Timer(0.2, publish, args=(data_path, 2))
    producer.start()
    result = waiter(timeout=10, sleep=30, newer_than_generation=1).run()
    producer.join()
    assert result['generation'] == 2
    assert result['elapsed'] < 1.0


def test_state_absent_returns_when_the_consumer_removes_the_marker(waiter, data_path):
    publish(data_path)
    marker = data_path.parent / 'x.tar.done'
    remover = threading.Timer(0.2, marker.unlink)
    remover.start()
    result = waiter(state='absent', timeout=10, sleep=30).run()
    remover.join()
    assert 0.1 <= result['elapsed'] < 1.0
    assert (result['marker'], result['watch']) == (None, 'inotify')
    assert not marker.exists()


def test_marker_in_a_relocated_directory_is_watched_too(waiter, data_path, tmp_path):
    state_dir = tmp_path / '.handoff'
    state_dir.mkdir()
    data_path.write_bytes(DATA)
    marker_path = state_dir / 'x.tar.done'
    writer = threading.Timer(0.2, Marker.complete(SHA, len(DATA), 'test', 1).write, args=(str(marker_path),))
    writer.start()
    result = waiter(marker_path=str(marker_path), timeout=10, sleep=30).run()
    writer.join()
    assert result['elapsed'] < 1.0
    assert result['marker_path'] == str(marker_path)


def test_state_dir_names_the_marker_it_waits_for(waiter, data_path, tmp_path):
    (tmp_path / '.handoff').mkdir()
    data_path.write_bytes(DATA)
    Marker.complete(SHA, len(DATA), 'test', 1).write(str(tmp_path / '.handoff' / 'x.tar.done'))
    result = waiter(state_dir='.handoff', timeout=0).run()
    assert result['marker_path'] == str(tmp_path / '.handoff' / 'x.tar.done')
    assert result['marker']['state'] == 'complete'


def test_missing_directory_is_polled_at_the_sleep_interval(make_module, tmp_path):
    wait = Wait(make_module(wait_for_marker.argument_spec(), path=str(tmp_path / 'later' / 'x'), timeout=0.2, sleep=0.05))
    with pytest.raises(HandoffError) as caught:
        wait.run()
    assert caught.value.details['watch'] == 'poll'


@pytest.mark.parametrize('options, message', [
    (dict(timeout=-1), 'timeout is -1.0; it must be 0 (look once) or more seconds, and at most 31622400 (366 days)'),
    (dict(sleep=0), 'sleep is 0.0; it must be more than 0 seconds, and at most 86400 (a day)'),
    (dict(timeout=float('nan')), 'timeout is nan; it must be 0 (look once) or more seconds, and at most 31622400 '
                                 '(366 days)'),
    (dict(timeout=float('inf')), 'timeout is inf; it must be 0 (look once) or more seconds, and at most 31622400 '
                                 '(366 days)'),
    (dict(sleep=float('nan')), 'sleep is nan; it must be more than 0 seconds, and at most 86400 (a day)'),
    (dict(stable_for=float('nan')), 'stable_for is nan; it must be 0 (no waiting) or more seconds, and at most '
                                    '31622400 (366 days)'),
    (dict(redis_state_host='web1', redis_host='127.0.0.1', timeout=float('nan')), 'timeout is nan; it must be 0 '
                                                                                  '(look once) or more seconds, '
                                                                                  'and at most 31622400 (366 days)'),
])
def test_bad_durations_are_refused(waiter, options, message):
    with pytest.raises(HandoffError) as caught:
        waiter(**options).run()
    assert caught.value.msg == message


def test_marker_path_equal_to_path_is_refused(waiter, data_path):
    with pytest.raises(HandoffError, match='is the same path as path'):
        waiter(marker_path=str(data_path)).run()


def test_check_mode_looks_once_and_reports_a_marker_not_there_yet(make_module, data_path):
    started = time.monotonic()
    result = Wait(make_module(wait_for_marker.argument_spec(), check_mode=True, path=str(data_path), timeout=600)).run()
    assert time.monotonic() - started < 5
    assert not result['changed'] and result['marker'] is None
    assert result['msg'] == ('check mode looks once instead of waiting (a real run waits up to 600.0s): neither the '
                             'data file %s nor its marker %s.done exists yet' % (data_path, data_path))


def test_check_mode_still_fails_on_a_failed_marker(make_module, data_path):
    Marker.failed('disk full on the sender', 'test', 1).write(str(data_path) + '.done')
    with pytest.raises(HandoffError, match='the producer marked .* failed: disk full on the sender'):
        Wait(make_module(wait_for_marker.argument_spec(), check_mode=True, path=str(data_path), timeout=600)).run()


def test_check_mode_returns_a_ready_marker_as_a_real_run_does(make_module, data_path):
    publish(data_path)
    result = Wait(make_module(wait_for_marker.argument_spec(), check_mode=True, path=str(data_path), timeout=600)).run()
    assert result['sha256'] == SHA and 'msg' not in result


@pytest.fixture
def many(make_module):
    """``many(paths, check_mode=False, **options)``: a wait_for_marker task with ``paths``."""
    def make(paths, check_mode=False, **options):
        return WaitForEach(make_module(wait_for_marker.argument_spec(), check_mode=check_mode,
                                       paths=[str(path) for path in paths], **options))
    return make


def test_paths_are_awaited_with_one_deadline_and_a_result_each(many, tmp_path):
    paths = [tmp_path / name for name in ('a', 'b', 'c')]
    publish(paths[0], generation=2)
    producers = [threading.Timer(0.2, publish, args=(paths[1],)), threading.Timer(0.4, publish, args=(paths[2],))]
    for producer in producers:
        producer.start()
    result = many(paths, timeout=10, sleep=30).run()
    for producer in producers:
        producer.join()
    assert 0.3 <= result['elapsed'] < 1.5, 'inotify did not wake the wait for the later paths'
    assert [(item['path'], item['status'], item['sha256']) for item in result['results']] == [
        (str(path), 'ready', SHA) for path in paths]
    assert result['results'][0]['generation'] == 2
    assert (result['msg'], result['watch'], result['changed']) == ('3 of 3 path(s) present', 'inotify', False)


def test_paths_time_out_once_and_fail_naming_each_path_not_ready(many, tmp_path):
    ready, missing, unmarked = tmp_path / 'ready', tmp_path / 'missing', tmp_path / 'unmarked'
    publish(ready)
    unmarked.write_bytes(DATA)
    started = time.monotonic()
    with pytest.raises(HandoffError) as caught:
        many([ready, missing, unmarked], timeout=0.5, sleep=0.1).run()
    assert time.monotonic() - started < 1.5, 'the timeout was counted per path'
    assert [item['status'] for item in caught.value.details['results']] == ['ready', 'failed', 'failed']
    assert caught.value.msg.startswith('2 of 3 path(s) not present (1 of 3 path(s) present): %s: timed out after '
                                       '0.5s waiting for %s.done to be present: neither' % (missing, missing))
    assert '%s: timed out' % unmarked in caught.value.msg and str(ready) + ':' not in caught.value.msg


def test_paths_report_a_failed_producer_per_path(many, tmp_path):
    good, bad = tmp_path / 'good', tmp_path / 'bad'
    publish(good)
    Marker(STATE_FAILED, reason='disk full').write(str(bad) + '.done')
    with pytest.raises(HandoffError, match='disk full') as caught:
        many([good, bad], timeout=30).run()
    assert [item['status'] for item in caught.value.details['results']] == ['ready', 'failed']


def test_paths_in_check_mode_look_once_and_report_what_is_not_ready(many, tmp_path):
    ready, missing = tmp_path / 'ready', tmp_path / 'missing'
    publish(ready)
    started = time.monotonic()
    result = many([ready, missing], check_mode=True, timeout=60).run()
    assert time.monotonic() - started < 0.5
    assert [item['status'] for item in result['results']] == ['ready', 'not_ready']
    assert 'a real run waits up to 60.0s' in result['results'][1]['msg']


def test_paths_with_state_dir_and_state_absent(many, tmp_path):
    (tmp_path / '.handoff').mkdir()
    path = tmp_path / 'x'
    path.write_bytes(DATA)
    Marker.complete(SHA, len(DATA), 'test', 1).write(str(tmp_path / '.handoff' / 'x.done'))
    assert many([path], state_dir='.handoff', timeout=1).run()['results'][0]['status'] == 'ready'
    threading.Timer(0.2, (tmp_path / '.handoff' / 'x.done').unlink).start()
    result = many([path], state_dir='.handoff', state='absent', timeout=5).run()
    assert result['results'][0]['status'] == 'ready' and result['msg'] == '1 of 1 path(s) absent'
