# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who holds a lock: /proc/locks lines, parsed from samples and from real flock(1) holders."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._lock.holders import (
    _parse_line, command_line, describe_holders, lock_entries)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire

UNSEEN = 'held by a process this user cannot see (another PID namespace or host)'


@pytest.mark.parametrize('line, expected', [
    ('1: FLOCK  ADVISORY  WRITE 21350 fe:00:2187951 0 EOF\n',
     dict(kind='FLOCK', mode='WRITE', pid=21350, device=(254, 0), inode=2187951, waiting=False)),
    ('1: -> FLOCK  ADVISORY  WRITE 22325 fe:00:2187951 0 EOF\n',
     dict(kind='FLOCK', mode='WRITE', pid=22325, device=(254, 0), inode=2187951, waiting=True)),
    ('2: POSIX  ADVISORY  READ 1234 00:2f:42 128 1023\n',
     dict(kind='POSIX', mode='READ', pid=1234, device=(0, 47), inode=42, waiting=False)),
    ('3: OFDLCK ADVISORY  WRITE -1 08:01:7 0 EOF\n',
     dict(kind='OFDLCK', mode='WRITE', pid=-1, device=(8, 1), inode=7, waiting=False)),
])
def test_parse_line_reads_kind_mode_pid_device_and_inode(line, expected):
    assert _parse_line(line) == expected


@pytest.mark.parametrize('line', [
    '',
    '1: FLOCK ADVISORY WRITE 21350 fe:00:2187951\n',
    '1: FLOCK  ADVISORY  WRITE pid fe:00:2187951 0 EOF\n',
    '1: FLOCK  ADVISORY  WRITE 21350 fe:00 0 EOF\n',
    '1: FLOCK  ADVISORY  WRITE 21350 zz:00:2187951 0 EOF\n',
])
def test_parse_line_ignores_lines_of_unknown_shape(line):
    assert _parse_line(line) is None


def _proc_locks_line(number, kind, mode, pid, st, waiting=False):
    arrow = '-> ' if waiting else ''
    return '%d: %s%s  ADVISORY  %s %d %02x:%02x:%d 0 EOF\n' % (
        number, arrow, kind, mode, pid, os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)


def test_lock_entries_keeps_only_lines_for_the_file(tmp_path):
    target = tmp_path / 'x.lock'
    other = tmp_path / 'y.lock'
    target.touch()
    other.touch()
    st = os.stat(target)
    proc_locks = tmp_path / 'locks'
    proc_locks.write_text(
        _proc_locks_line(1, 'FLOCK', 'WRITE', os.getpid(), st)
        + _proc_locks_line(2, 'POSIX', 'WRITE', os.getpid(), os.stat(other))
        + _proc_locks_line(3, 'OFDLCK', 'READ', -1, st))
    entries = lock_entries(st, str(proc_locks))
    assert [(e['kind'], e['pid']) for e in entries] == [('FLOCK', os.getpid()), ('OFDLCK', -1)]
    assert entries[0]['command'] == command_line(os.getpid())
    assert entries[1]['command'] is None


def test_lock_entries_without_proc_locks_is_empty(tmp_path):
    assert lock_entries(os.stat(tmp_path), str(tmp_path / 'no-such-file')) == []


def test_command_line_joins_arguments_with_spaces():
    args = [sys.executable, '-c', 'import sys; print("ready", flush=True); sys.stdin.read()', 'two words']
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == 'ready\n'
        assert command_line(proc.pid) == ' '.join(args)
    finally:
        proc.stdin.close()
        proc.wait(5)
        proc.stdout.close()


def test_command_line_of_a_pid_that_cannot_exist_is_none():
    with open('/proc/sys/kernel/pid_max') as handle:
        pid_max = int(handle.read())
    assert command_line(pid_max + 1) is None


def test_real_flock1_holder_is_found_in_proc_locks(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    st = os.stat(path)
    assert lock_entries(st) == [dict(kind='FLOCK', mode='WRITE', pid=holder.pid,
                                     device=(os.major(st.st_dev), os.minor(st.st_dev)), inode=st.st_ino,
                                     waiting=False, command=holder.command)]


def test_describe_names_the_real_holder(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    assert describe_holders(os.stat(path)) == 'held by pid %d (%s) [FLOCK WRITE]' % (holder.pid, holder.command)


def test_describe_names_every_shared_holder(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    first = hold_lock(path, '-s')
    second = hold_lock(path, '-s')
    description = describe_holders(os.stat(path))
    assert description.startswith('held by pid ')
    assert 'pid %d (%s)' % (first.pid, first.command) in description
    assert 'pid %d (%s)' % (second.pid, second.command) in description
    assert description.endswith('[FLOCK READ]')


def test_describe_leaves_out_a_process_waiting_for_the_lock(tmp_path, hold_lock, flock_cmd):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    waiter = subprocess.Popen([flock_cmd, str(path), 'true'])
    try:
        deadline = time.monotonic() + 5
        while not any(e['waiting'] for e in lock_entries(os.stat(path))):
            assert time.monotonic() < deadline, 'flock(1) waiter never showed up in /proc/locks'
            time.sleep(0.01)
        assert describe_holders(os.stat(path)) == 'held by pid %d (%s) [FLOCK WRITE]' % (
            holder.pid, holder.command)
    finally:
        holder.release()
        waiter.wait(5)


def test_describe_leaves_out_the_excluded_pid(tmp_path):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0):
        st = os.stat(path)
        assert describe_holders(st).startswith('held by pid %d (' % os.getpid())
        assert describe_holders(st, os.getpid()) == UNSEEN


def test_describe_an_unheld_lock_says_the_holder_is_not_visible(tmp_path):
    path = tmp_path / 'x.lock'
    path.touch()
    assert describe_holders(os.stat(path)) == UNSEEN
