# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""locked_move with files: a list of moves, awaited with one deadline, all_or_none, locks in a stable order."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _move_batch
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_FAILED, Marker
from ansible_collections.lockstep.handoff.plugins.modules import locked_move
from tests.support.hostile_user import canary_file, run_as, shared_directory, unchanged

FORK = multiprocessing.get_context('fork')


@pytest.fixture
def dirs(tmp_path):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    return tmp_path / 'in', tmp_path / 'out'


@pytest.fixture
def batch(make_module):
    """``batch(files, check_mode=False, diff=False, **options)``: a locked_move task with ``files``."""
    def make(files, check_mode=False, diff=False, **options):
        files = [dict((key, str(value)) for key, value in item.items()) for item in files]
        return LockedMove(make_module(locked_move.argument_spec(), check_mode=check_mode, diff=diff, files=files,
                                      **options))
    return make


def produce(path, data=None):
    data = data if data is not None else path.name.encode() * 10
    path.write_bytes(data)
    Marker.complete(hashlib.sha256(data).hexdigest(), len(data), 'test', 1).write(str(path) + '.done')
    return path


def pairs(inbox, outbox, names):
    return [dict(src=inbox / name, dest=outbox / name) for name in names]


NAMES = ['f%02d.conf' % number for number in range(20)]


def test_twenty_files_move_in_one_run_each_under_its_own_lock(batch, dirs):
    inbox, outbox = dirs
    for name in NAMES:
        produce(inbox / name)
    result = batch(pairs(inbox, outbox, NAMES)).run()
    assert result['changed'] is True
    assert [item['status'] for item in result['results']] == ['moved'] * 20
    assert [item['src'] for item in result['results']] == [str(inbox / name) for name in NAMES]
    assert result['msg'] == 'moved 20 of 20 file(s), 0 already in place'
    for name in NAMES:
        assert (outbox / name).read_bytes() == name.encode() * 10
        assert not (inbox / name).exists() and not (inbox / (name + '.done')).exists()
        assert (outbox / (name + '.lock')).exists()
    again = batch(pairs(inbox, outbox, NAMES)).run()
    assert again['changed'] is False
    assert [item['status'] for item in again['results']] == ['unchanged'] * 20


def test_per_file_mode_and_task_wide_state_dir(batch, dirs):
    inbox, outbox = dirs
    (inbox / '.handoff').mkdir()
    data = b'x' * 5
    (inbox / 'a').write_bytes(data)
    Marker.complete(hashlib.sha256(data).hexdigest(), 5, 'test', 1).write(str(inbox / '.handoff' / 'a.done'))
    produce(inbox / 'b')
    (inbox / 'b').chmod(0o600)
    files = [dict(src=inbox / 'a', dest=outbox / 'a', mode='0640'),
             dict(src=inbox / 'b', dest=outbox / 'b', marker_path=inbox / 'b.done', lock_path=outbox / 'b.lk')]
    result = batch(files, state_dir='.handoff', create_parents=True).run()
    assert [item['status'] for item in result['results']] == ['moved', 'moved']
    assert (outbox / 'a').stat().st_mode & 0o777 == 0o640
    assert (outbox / 'b').stat().st_mode & 0o777 == 0o600
    assert (outbox / '.handoff' / 'a.lock').exists() and (outbox / 'b.lk').exists()
    assert result['results'][1]['lock_path'] == str(outbox / 'b.lk')


def test_failures_are_reported_per_file_and_the_others_still_move(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'good')
    (inbox / 'unmarked').write_bytes(b'half')
    bad = produce(inbox / 'gave-up')
    Marker(state=STATE_FAILED, reason='disk full').write(str(bad) + '.done')
    secret = produce(inbox / 'secret')
    (inbox / 'link').symlink_to(secret)
    (inbox / 'link.done').write_bytes((inbox / 'secret.done').read_bytes())
    with pytest.raises(HandoffError) as failed:
        batch(pairs(inbox, outbox, ['good', 'unmarked', 'gave-up', 'never', 'link', 'secret'])).run()
    details = failed.value.details
    assert [item['status'] for item in details['results']] == ['moved', 'failed', 'failed', 'failed', 'failed', 'moved']
    assert details['changed'] is True
    assert (outbox / 'good').exists() and not (outbox / 'unmarked').exists() and not (outbox / 'link').exists()
    msg = failed.value.msg
    assert msg.startswith('4 of 6 file(s) not moved (moved 2 of 6 file(s), 0 already in place): ')
    for name, why in (('unmarked', 'its marker'), ('gave-up', 'disk full'), ('never', 'does not exist'),
                      ('link', 'not a regular file')):
        assert '%s: ' % (inbox / name) in msg and why in msg


def test_wait_moves_each_file_as_its_marker_appears_within_one_deadline(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'early')
    late = threading.Timer(0.5, produce, [inbox / 'late'])
    late.start()
    try:
        started = time.monotonic()
        result = batch(pairs(inbox, outbox, ['late', 'early']), wait=True, timeout=10, sleep=5).run()
    finally:
        late.cancel()
    assert time.monotonic() - started < 3, 'inotify did not wake the wait'
    assert [item['status'] for item in result['results']] == ['moved', 'moved']
    assert (outbox / 'late').exists() and (outbox / 'early').exists()
    assert 0.4 < result['elapsed'] < 3


def test_wait_times_out_once_for_the_batch_and_names_what_it_saw(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'ready')
    started = time.monotonic()
    with pytest.raises(HandoffError) as failed:
        batch(pairs(inbox, outbox, ['ready', 'missing1', 'missing2']), wait=True, timeout=1).run()
    assert time.monotonic() - started < 2.5, 'the timeout was taken per file, not once for the batch'
    assert (outbox / 'ready').exists()
    msg = failed.value.msg
    for name in ('missing1', 'missing2'):
        assert ('%s: src %s does not exist' % (inbox / name, inbox / name)) in msg
    assert msg.count('(waiting: timed out after 1.0s waiting for the marker') == 2


def test_wait_counts_a_file_moved_already_as_done_unless_skip_moved_is_off(batch, dirs):
    inbox, outbox = dirs
    (outbox / 'done').write_bytes(b'old')
    started = time.monotonic()
    result = batch(pairs(inbox, outbox, ['done']), wait=True, timeout=5).run()
    assert time.monotonic() - started < 1 and result['results'][0]['status'] == 'unchanged'
    threading.Timer(0.3, produce, [inbox / 'done', b'new']).start()
    result = batch(pairs(inbox, outbox, ['done']), wait=True, timeout=5, skip_moved=False).run()
    assert result['results'][0]['status'] == 'moved' and (outbox / 'done').read_bytes() == b'new'


def test_all_or_none_moves_nothing_while_one_file_is_missing(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'a.conf')
    with pytest.raises(HandoffError) as failed:
        batch(pairs(inbox, outbox, ['a.conf', 'b.conf']), all_or_none=True, wait=True, timeout=0.5).run()
    assert [item['status'] for item in failed.value.details['results']] == ['not_moved', 'failed']
    assert failed.value.details['changed'] is False
    assert '2 of 2 file(s) not moved' in failed.value.msg and str(inbox / 'b.conf') in failed.value.msg
    assert str(inbox / 'a.conf') + ':' not in failed.value.msg
    assert (inbox / 'a.conf').exists() and not (outbox / 'a.conf').exists()


def test_all_or_none_moves_all_once_the_last_one_is_ready(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'a.conf')
    threading.Timer(0.3, produce, [inbox / 'b.conf']).start()
    result = batch(pairs(inbox, outbox, ['a.conf', 'b.conf']), all_or_none=True, wait=True, timeout=10).run()
    assert [item['status'] for item in result['results']] == ['moved', 'moved']
    assert (outbox / 'a.conf').exists() and (outbox / 'b.conf').exists()


def test_all_or_none_without_wait_refuses_at_once(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'a.conf')
    (inbox / 'b.conf').write_bytes(b'unmarked')
    with pytest.raises(HandoffError) as failed:
        batch(pairs(inbox, outbox, ['a.conf', 'b.conf']), all_or_none=True).run()
    assert [item['status'] for item in failed.value.details['results']] == ['not_moved', 'failed']
    assert not (outbox / 'a.conf').exists()


def test_check_mode_looks_once_reports_what_would_move_and_a_diff_per_file(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'a')
    started = time.monotonic()
    result = batch(pairs(inbox, outbox / 'new', ['a', 'b']), check_mode=True, diff=True, wait=True, timeout=60,
                   create_parents=True).run()
    assert time.monotonic() - started < 1, 'check mode waited'
    assert [item['status'] for item in result['results']] == ['moved', 'not_ready']
    assert result['changed'] is True
    assert result['msg'] == 'would move 1 of 2 file(s), 0 already in place, 1 not ready yet'
    assert 'a real run waits up to 60.0s' in result['results'][1]['msg']
    assert result['diff'] == [{'before': {'path': str(inbox / 'a'), 'state': 'file'},
                               'after': {'path': str(outbox / 'new' / 'a'), 'state': 'file'}}]
    assert (inbox / 'a').exists() and not (outbox / 'new').exists()


def test_two_files_with_one_dest_are_refused_before_anything_moves(batch, dirs):
    inbox, outbox = dirs
    produce(inbox / 'a')
    produce(inbox / 'b')
    with pytest.raises(HandoffError, match='dest .* is given twice'):
        batch([dict(src=inbox / 'a', dest=outbox / 'x'), dict(src=inbox / 'b', dest=outbox / 'x')]).run()
    assert (inbox / 'a').exists()


def test_one_task_lock_path_is_taken_once_for_all_or_none(batch, dirs):
    inbox, outbox = dirs
    for name in ('a', 'b'):
        produce(inbox / name)
    result = batch(pairs(inbox, outbox, ['a', 'b']), all_or_none=True, lock_path=str(outbox / 'set.lock'),
                   lock_timeout=1).run()
    assert [item['status'] for item in result['results']] == ['moved', 'moved']


def _race(make_module, files, lock_paths, delay, queue):
    """Run one all_or_none batch, pausing after each lock it takes so that the other batch takes its first."""
    real_acquire = _move_batch.acquire

    def slow_acquire(path, **settings):
        lock = real_acquire(path, **settings)
        lock_paths.put((files[0]['src'], path))
        time.sleep(delay)
        return lock

    _move_batch.acquire = slow_acquire
    try:
        result = LockedMove(make_module(locked_move.argument_spec(), files=files, all_or_none=True,
                                        lock_timeout=5)).run()
        queue.put([item['status'] for item in result['results']])
    except HandoffError as exc:
        queue.put(exc.msg)


def test_two_batches_in_opposite_order_take_their_locks_in_one_order_and_never_deadlock(make_module, dirs):
    inbox, outbox = dirs
    for name in ('a', 'b'):
        produce(inbox / name)
    forward = [dict(src=str(inbox / name), dest=str(outbox / name)) for name in ('a', 'b')]
    lock_paths, outcomes = FORK.Queue(), FORK.Queue()
    racers = [FORK.Process(target=_race, args=(make_module, files, lock_paths, 0.5, outcomes))
              for files in (forward, forward[::-1])]
    started = time.monotonic()
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(20)
    assert time.monotonic() - started < 8, 'the batches waited for each other until lock_timeout'
    assert sorted(str(outcomes.get(timeout=1)) for racer in racers) == sorted(
        [str(['moved', 'moved']), str(['unchanged', 'unchanged'])])
    taken = {}
    while not lock_paths.empty():
        src, path = lock_paths.get()
        taken.setdefault(src, []).append(path)
    assert list(taken.values()) == [[str(outbox / 'a.lock'), str(outbox / 'b.lock')]] * 2


@pytest.fixture
def shared_dirs(attacker, tmp_path):
    """An inbox and an outbox shared with the attacker's group (``root:GROUP`` 2775)."""
    return shared_directory(tmp_path / 'shared-in', attacker), shared_directory(tmp_path / 'shared-out', attacker)


def test_wait_with_a_lock_file_planted_as_a_symlink_fails_that_file_only(batch, shared_dirs, attacker, tmp_path):
    inbox, outbox = shared_dirs
    canary = canary_file(tmp_path / 'canary')
    for name in ('a.conf', 'b.conf'):
        produce(inbox / name)
    run_as(attacker, 'ln -s %s %s' % (canary, outbox / 'a.conf.lock'))
    with pytest.raises(HandoffError) as raised:
        batch(pairs(inbox, outbox, ['a.conf', 'b.conf']), wait=True, timeout=5).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved'] and 'symlink' in results[0]['msg']
    assert unchanged(canary) and (inbox / 'a.conf').exists() and (outbox / 'b.conf').exists()


def test_wait_never_follows_a_source_planted_as_a_symlink_with_a_marker_naming_its_target(batch, shared_dirs,
                                                                                          attacker, tmp_path):
    """A group member planted src as a link to a root-only file and a marker with that file's sha256: the wait
    keeps waiting for a regular file, the move refuses the link, the other file moves."""
    inbox, outbox = shared_dirs
    canary = canary_file(tmp_path / 'canary')
    produce(inbox / 'b.conf')
    marker = Marker.complete(hashlib.sha256(canary.read_bytes()).hexdigest(), canary.stat().st_size, 'x', 1)
    run_as(attacker, "ln -s %s %s && printf '%%s' '%s' > %s.done" % (
        canary, inbox / 'a.conf', marker.to_bytes().decode(), inbox / 'a.conf'))
    with pytest.raises(HandoffError) as raised:
        batch(pairs(inbox, outbox, ['a.conf', 'b.conf']), wait=True, timeout=1, sleep=0.2).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved'] and 'regular file' in results[0]['msg']
    assert unchanged(canary) and not os.path.lexists(outbox / 'a.conf') and (outbox / 'b.conf').exists()


def test_wait_with_a_source_directory_replaced_by_a_file_fails_that_file_only(batch, shared_dirs, attacker):
    """A group member of the inbox replaced the subdirectory of one source with a plain file: the look at it
    (lstat: ENOTDIR) ended the whole batch in a traceback, and the other file never moved."""
    inbox, outbox = shared_dirs
    for name in ('one', 'two'):
        (inbox / name).mkdir()
        (inbox / name).chmod(0o777)
        produce(inbox / name / ('%s.conf' % name))
    run_as(attacker, 'mv %s %s.gone && touch %s' % (inbox / 'one', inbox / 'one', inbox / 'one'))
    files = [dict(src=inbox / name / ('%s.conf' % name), dest=outbox / ('%s.conf' % name)) for name in ('one', 'two')]
    with pytest.raises(HandoffError) as raised:
        batch(files, wait=True, timeout=1, sleep=0.2).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved']
    assert 'Not a directory' in results[0]['msg']
    assert (outbox / 'two.conf').exists()


def test_each_file_s_move_is_given_the_file_s_options_over_the_task_s(make_module, dirs):
    inbox, outbox = dirs
    module = make_module(locked_move.argument_spec(), files=[], owner='root', force=False, keep_previous=2)
    moved = _move_batch._File(module, dict(src=str(inbox / 'a'), dest=str(outbox / 'a'), owner='nobody'))
    options = moved.mover.options
    assert (options.owner, options.force, options.keep_previous) == ('nobody', False, 2)
    assert module.params['owner'] == 'root'
