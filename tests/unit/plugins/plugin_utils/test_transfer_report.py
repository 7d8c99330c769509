# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The transfer report: phase times on a clock the test moves, the one-line msg, the result keys."""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.plugin_utils.transfer_report import (
    TransferReport, describe, human_size)

GIB = 1024 ** 3


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def run_upload(clock, report, send_seconds, size, compressed, path):
    """Probe 0.3 s, send ``size`` bytes by ``path`` in ``send_seconds``, publish 0.5 s."""
    with report.phase('probe'):
        clock.now += 0.3
    with report.phase('send'):
        clock.now += send_seconds
    report.sent(size, compressed, path)
    with report.phase('publish'):
        clock.now += 0.5


def test_a_transfer_reports_its_phases_bytes_rate_path_and_compression():
    clock = Clock()
    report = TransferReport(clock)
    run_upload(clock, report, 9.4, GIB, compressed=False, path='direct')
    result = report.add_to(dict(changed=True, action='transfer', transfer_path='direct'))
    assert result['transfer'] == dict(elapsed=10.2, phases=dict(probe=0.3, publish=0.5, send=9.4), bytes_sent=GIB,
                                      throughput_mib_s=108.9, path='direct', ssh_compression=False)
    assert result['msg'] == 'sent 1.0 GiB in 9.4 s (109 MiB/s), direct, ssh compression off; 10.2 s in all'


def test_a_phase_run_twice_adds_up_and_a_compressed_send_says_so():
    clock = Clock()
    report = TransferReport(clock)
    with report.phase('probe'):
        clock.now += 0.2
    run_upload(clock, report, 2.0, 3 * 1024 * 1024, compressed=True, path='staged')
    result = report.add_to(dict(changed=True, action='transfer', transfer_path='staged'))
    assert result['transfer']['phases']['probe'] == pytest.approx(0.5)
    assert result['msg'] == 'sent 3.0 MiB in 2.0 s (1.5 MiB/s), staged, ssh compression on; 3.0 s in all'


def test_work_in_another_thread_is_timed_through_timed():
    clock = Clock()
    report = TransferReport(clock)

    def hash_source(path):
        clock.now += 1.25
        return 'digest of ' + path

    assert report.timed('hash', hash_source)('/src') == 'digest of /src'
    assert report.summary()['phases'] == dict(hash=1.25)


def test_a_failed_publish_after_the_send_still_says_which_way_the_bytes_went():
    """The module's result of a failed publish has no transfer_path; the report knows the path from the send."""
    clock = Clock()
    report = TransferReport(clock)
    run_upload(clock, report, 1.0, 1024, compressed=False, path='staged')
    result = report.add_to(dict(failed=True, msg='validate failed'))
    assert (result['transfer']['bytes_sent'], result['transfer']['path']) == (1024, 'staged')
    assert result['msg'] == 'validate failed'


@pytest.mark.parametrize('action, line', [
    ('none', 'nothing sent: dest already holds the data; 0.0 s in all'),
    ('marker', 'nothing sent: the data was in place, only the marker was written; 0.0 s in all'),
    ('transfer', 'check mode: nothing sent; 0.0 s in all'),
])
def test_nothing_sent_says_why_and_has_no_rate(action, line):
    result = TransferReport(Clock()).add_to(dict(changed=False, action=action))
    assert result['msg'] == line
    assert result['transfer']['bytes_sent'] == 0
    assert result['transfer']['throughput_mib_s'] is None and result['transfer']['path'] is None


def test_a_message_the_module_gave_is_kept():
    result = TransferReport(Clock()).add_to(dict(changed=False, action='none', msg='dest /x exists and force=false'))
    assert result['msg'] == 'dest /x exists and force=false'
    assert result['transfer']['elapsed'] == 0.0


def test_an_instant_send_has_no_rate_instead_of_dividing_by_zero():
    transfer = dict(elapsed=0.0, phases=dict(send=0.0), bytes_sent=10, throughput_mib_s=None, path='direct',
                    ssh_compression=False)
    assert describe(transfer, 'transfer') == 'sent 10 B in 0.0 s (? MiB/s), direct, ssh compression off; 0.0 s in all'
    clock = Clock()
    report = TransferReport(clock)
    report.sent(10, False, 'direct')
    assert report.summary()['throughput_mib_s'] is None


@pytest.mark.parametrize('size, text', [(0, '0 B'), (1023, '1023 B'), (1536, '1.5 KiB'), (GIB, '1.0 GiB'),
                                        (3 * 1024 ** 5, '3072.0 TiB')])
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize('action, line', [
    ('transfer', 'sent 3.0 KiB inside the module run (inline), ssh compression on; 0.4 s in all'),
    ('none', "nothing published: dest already holds the data (the files' 3.0 KiB went inside the module run, "
             'inline); 0.4 s in all'),
])
def test_a_small_list_says_its_bytes_went_inside_the_module_run(action, line):
    clock = Clock()
    report = TransferReport(clock)
    report.sent(3 * 1024, True, 'inline')
    with report.phase('inline'):
        clock.now += 0.4
    result = report.add_to(dict(changed=action == 'transfer', action=action))
    assert (result['transfer']['path'], result['transfer']['throughput_mib_s']) == ('inline', None)
    assert result['msg'] == line
