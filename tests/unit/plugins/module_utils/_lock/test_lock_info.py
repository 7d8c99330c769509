# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""lock_info against real holders: util-linux flock(1), fcntl holders, our own locks, killed holders."""

from __future__ import annotations

import calendar
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._lock import info as _lock_info
from ansible_collections.lockstep.handoff.plugins.modules import lock_info
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.info import (
    LockInfo, boot_time, lock_report, process_exited, process_start_time, record_is_stale, rfc3339)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.holders import command_line
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.owner import boot_id, write_owner_record
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire

FORK = multiprocessing.get_context('fork')
HOLDER = 'lockstep.handoff.locked_command'
SYSTEM_PYTHON = '/usr/bin/python3'


def _seconds(rfc3339_text):
    return calendar.timegm(time.strptime(rfc3339_text, '%Y-%m-%dT%H:%M:%SZ'))


def wait_for(predicate, what, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_rfc3339_is_utc_with_second_precision():
    assert rfc3339(0) == '1970-01-01T00:00:00Z'
    assert rfc3339(1795411310.9) == '2026-11-23T05:21:50Z'


def test_boot_time_reads_btime(tmp_path):
    proc_stat = tmp_path / 'stat'
    proc_stat.write_text('cpu  1 2 3\nintr 5\nbtime 1795411310\nprocesses 9\n')
    assert boot_time(str(proc_stat)) == 1795411310
    assert boot_time(str(tmp_path / 'missing')) is None
    assert 0 < boot_time() <= time.time()


def test_start_time_of_a_new_process_is_now():
    before = time.time()
    proc = subprocess.Popen(['sleep', '5'])
    try:
        since = process_start_time(proc.pid, boot_time())
        assert before - 2 <= _seconds(since) <= time.time() + 1
    finally:
        proc.kill()
        proc.wait()


def test_start_time_survives_a_command_name_with_parentheses_and_spaces(tmp_path):
    odd = tmp_path / 'x) (y 1 2'
    shutil.copy(shutil.which('sleep'), odd)
    proc = subprocess.Popen([str(odd), '5'])
    try:
        since = process_start_time(proc.pid, boot_time())
        assert abs(_seconds(since) - time.time()) < 3
    finally:
        proc.kill()
        proc.wait()


def test_start_time_of_a_gone_or_unknown_process_is_none():
    proc = subprocess.Popen(['true'])
    proc.wait()
    assert process_start_time(proc.pid, boot_time()) is None
    assert process_start_time(-1, boot_time()) is None
    assert process_start_time(os.getpid(), None) is None


def test_process_exited_tells_live_from_gone():
    proc = subprocess.Popen(['true'])
    proc.wait()
    assert process_exited(proc.pid)
    assert not process_exited(os.getpid())
    assert not process_exited(1)
    assert not process_exited(-1)


def test_missing_lock_is_reported_not_an_error(tmp_path):
    for path in (tmp_path / 'missing.lock', tmp_path / 'missing' / 'x.lock'):
        assert lock_report(str(path)) == dict(path=str(path), exists=False, held=False, holders=[], waiters=[],
                                              owner_record=None)
    regular = tmp_path / 'file'
    regular.touch()
    assert lock_report(str(regular / 'x.lock'))['exists'] is False


def test_free_lock_file_is_reported_free(tmp_path):
    path = tmp_path / 'x.lock'
    path.touch()
    assert lock_report(str(path)) == dict(path=str(path), exists=True, held=False, holders=[], waiters=[],
                                          owner_record=None)


def test_flock1_holder_is_reported_with_pid_command_kind_mode_and_start_time(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    report = lock_report(str(path))
    assert report['held'] and report['exists'] and report['waiters'] == []
    assert report['holders'] == [dict(pid=holder.pid, command=holder.command, kind='FLOCK', mode='WRITE',
                                      since=process_start_time(holder.pid, boot_time()), since_from='process_start',
                                      holder=None, host=None, boot_id=None, exited=False, inherited_by=[])]
    assert abs(_seconds(report['holders'][0]['since']) - time.time()) < 5


def test_shared_holders_are_all_reported_sorted_by_pid(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holders = [hold_lock(path, '-s'), hold_lock(path, '-s')]
    report = lock_report(str(path))
    assert [(h['pid'], h['mode']) for h in report['holders']] == sorted((h.pid, 'READ') for h in holders)


def test_fcntl_holder_is_reported_as_posix(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path, kind='fcntl')
    (entry,) = lock_report(str(path))['holders']
    assert (entry['pid'], entry['kind'], entry['mode'], entry['command']) == (
        holder.pid, 'POSIX', 'WRITE', holder.command)


def test_waiter_is_reported_apart_from_the_holder(tmp_path, hold_lock, flock_cmd):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    waiter = subprocess.Popen([flock_cmd, '-w', '10', str(path), 'true'])
    try:
        wait_for(lambda: lock_report(str(path))['waiters'], 'flock -w never showed up as a waiter')
        report = lock_report(str(path))
        assert [h['pid'] for h in report['holders']] == [holder.pid]
        (entry,) = report['waiters']
        assert (entry['pid'], entry['command'], entry['kind'], entry['mode'], entry['exited']) == (
            waiter.pid, '%s -w 10 %s true' % (flock_cmd, path), 'FLOCK', 'WRITE', False)
        assert entry['since'] is not None
    finally:
        holder.release()
        waiter.wait(5)
    assert lock_report(str(path))['waiters'] == []


def test_directory_is_a_lock_of_its_own(tmp_path, hold_lock):
    spool = tmp_path / 'spool'
    spool.mkdir()
    holder = hold_lock(spool)
    report = lock_report(str(spool))
    assert [h['pid'] for h in report['holders']] == [holder.pid]
    assert report['owner_record'] is None


def test_our_own_lock_shows_the_owner_record_and_its_since(tmp_path):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0, holder=HOLDER):
        report = lock_report(str(path))
    (entry,) = report['holders']
    record = report['owner_record']
    assert (record['pid'], record['holder'], record['host'], record['stale']) == (
        os.getpid(), HOLDER, socket.gethostname(), False)
    assert (entry['pid'], entry['holder'], entry['since'], entry['host'], entry['boot_id']) == (
        os.getpid(), HOLDER, record['since'], socket.gethostname(), boot_id())
    assert lock_report(str(path))['owner_record'] is None


def _hold_and_wait(path, held):
    with acquire(path, 0, holder=HOLDER):
        held.set()
        time.sleep(60)


def test_holder_killed_with_sigkill_leaves_a_stale_record(tmp_path):
    path = tmp_path / 'x.lock'
    held = FORK.Event()
    proc = FORK.Process(target=_hold_and_wait, args=(str(path), held))
    proc.start()
    try:
        assert held.wait(10)
        assert lock_report(str(path))['owner_record']['stale'] is False
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    report = lock_report(str(path))
    assert not report['held'] and report['holders'] == []
    record = report['owner_record']
    assert (record['pid'], record['holder'], record['stale']) == (proc.pid, HOLDER, True)


def test_record_under_another_holder_is_stale(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    path.write_text(json.dumps(dict(host=socket.gethostname(), pid=os.getpid(), boot_id=boot_id(),
                                    since='2026-01-01T00:00:00Z', holder=HOLDER)))
    holder = hold_lock(path)
    report = lock_report(str(path))
    assert report['owner_record']['stale'] is True
    assert report['holders'][0]['pid'] == holder.pid and report['holders'][0]['holder'] is None


@pytest.mark.parametrize('host, boot, stale', [
    ('elsewhere', 'b', False),
    ('this host', 'an-earlier-boot', True),
    ('this host', 'this boot', False),
])
def test_stale_only_for_records_of_this_host(host, boot, stale):
    """Built at run time: the process that collects the tests need not be the one that runs them."""
    record = dict(host=socket.gethostname() if host == 'this host' else host, pid=os.getpid(),
                  boot_id=boot_id() if boot == 'this boot' else boot)
    assert record_is_stale(record, [os.getpid()]) is stale


def _flock_then_exit(flock_cmd, path):
    """flock(1) starts a background child that inherits the locked descriptor, then exits."""
    proc = subprocess.Popen([flock_cmd, str(path), 'sh', '-c', 'sleep 30 & echo $!'], stdout=subprocess.PIPE,
                            text=True)
    child = int(proc.stdout.readline())
    proc.wait(5)
    proc.stdout.close()
    wait_for(lambda: command_line(child) == 'sleep 30', 'the background child never became sleep 30')
    return proc.pid, child


def test_exited_holder_names_the_child_that_inherited_the_lock(tmp_path, flock_cmd):
    path = tmp_path / 'x.lock'
    flock_pid, child = _flock_then_exit(flock_cmd, path)
    try:
        report = lock_report(str(path))
        (entry,) = report['holders']
        assert (entry['pid'], entry['command'], entry['exited'], entry['since']) == (flock_pid, None, True, None)
        assert entry['inherited_by'] == [dict(pid=child, command='sleep 30')]
    finally:
        os.kill(child, signal.SIGKILL)
    wait_for(lambda: not lock_report(str(path))['held'], 'the lock outlived the child that inherited it')


def test_record_read_twice_until_it_agrees_with_proc_locks(tmp_path, monkeypatch):
    path = tmp_path / 'x.lock'
    path.touch()
    first = dict(host=socket.gethostname(), pid=1, boot_id=boot_id())
    records = [first, None, None]
    entries_read = []
    monkeypatch.setattr(_lock_info, 'read_owner_record', lambda p: records.pop(0))
    monkeypatch.setattr(_lock_info, 'lock_entries', lambda st: entries_read.append(st) or [])
    assert lock_report(str(path))['owner_record'] is None
    assert len(entries_read) == 2


def test_hidden_processes_are_reported_as_unknown_not_as_exited(hold_lock, as_root):
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        path = Path(directory) / 'x.lock'
        holder = hold_lock(path)
        entry = _report_as_nobody_with_hidepid(path)
        holder.release()
    assert (entry['pid'], entry['command'], entry['since'], entry['exited']) == (holder.pid, None, None, False)


def _collections_root():
    """The directory holding ``ansible_collections`` this test imported the module from: the
    bootstrap link under pytest, ansible-test's copy under ``ansible-test units``."""
    return str(Path(_lock_info.__file__).parents[6])


def _report_as_nobody_with_hidepid(path):
    """The one holder lock_report sees as user nobody, with a /proc (mount namespace of its own) that hides
    other users' processes. The system Python runs it: the controller's may live where nobody cannot read."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip('no system Python at %s to run as user nobody' % SYSTEM_PYTHON)
    script = ('import json, sys; sys.path.insert(0, sys.argv[1]); from ansible_collections.lockstep.handoff.'
              'plugins.module_utils._lock.info import lock_report; print(json.dumps(lock_report(sys.argv[2])))')
    inner = 'mount -t proc -o hidepid=invisible proc /proc && exec "$@"'
    done = subprocess.run(['unshare', '-m', 'sh', '-c', inner, 'sh', 'setpriv', '--reuid', '65534', '--regid',
                           '65534', '--clear-groups', SYSTEM_PYTHON, '-c', script, _collections_root(), str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)['holders']
    return entry


def run_lock_info(make_module, **params):
    return LockInfo(make_module(lock_info.argument_spec(), **params)).run()


def test_patterns_report_the_matching_entries_of_a_directory(tmp_path, make_module, hold_lock):
    for name in ('b.lock', 'a.lock', 'notes.txt'):
        (tmp_path / name).touch()
    holder = hold_lock(tmp_path / 'b.lock')
    result = run_lock_info(make_module, path=str(tmp_path), patterns=['*.lock'])
    assert result['changed'] is False
    assert [(r['path'], r['held']) for r in result['locks']] == [
        (str(tmp_path / 'a.lock'), False), (str(tmp_path / 'b.lock'), True)]
    assert result['locks'][1]['holders'][0]['pid'] == holder.pid


def test_patterns_matching_nothing_report_no_lock(tmp_path, make_module):
    assert run_lock_info(make_module, path=str(tmp_path), patterns=['*.lock'])['locks'] == []


def test_directory_without_patterns_is_reported_itself(tmp_path, make_module):
    (tmp_path / 'a.lock').touch()
    assert [r['path'] for r in run_lock_info(make_module, path=str(tmp_path))['locks']] == [str(tmp_path)]


def test_missing_directory_with_patterns_is_reported_missing(tmp_path, make_module):
    (report,) = run_lock_info(make_module, path=str(tmp_path / 'gone'), patterns=['*.lock'])['locks']
    assert report['exists'] is False


def test_patterns_with_a_file_path_are_refused(tmp_path, make_module):
    path = tmp_path / 'x.lock'
    path.touch()
    with pytest.raises(HandoffError, match='patterns were given, but path .* is not a directory'):
        run_lock_info(make_module, path=str(path), patterns=['*.lock'])


def test_unreadable_proc_locks_is_warned_about(tmp_path, make_module, monkeypatch):
    module = make_module(lock_info.argument_spec(), path=str(tmp_path))
    warnings = []
    monkeypatch.setattr(module, 'warn', warnings.append)
    monkeypatch.setattr(_lock_info, 'PROC_LOCKS', str(tmp_path / 'no-proc-locks'))
    LockInfo(module).run()
    assert warnings and 'cannot be read here' in warnings[0]


def test_owner_record_is_kept_as_read(tmp_path):
    path = tmp_path / 'x.lock'
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        write_owner_record(fd, dict(host='nfs-client-2', pid=77, boot_id='b', since='2026-11-23T10:00:00Z',
                                    holder='lockstep.handoff.locked_move'))
    finally:
        os.close(fd)
    assert lock_report(str(path))['owner_record'] == dict(
        host='nfs-client-2', pid=77, boot_id='b', since='2026-11-23T10:00:00Z',
        holder='lockstep.handoff.locked_move', stale=False, trusted=False,
        trust_reason="written on host 'nfs-client-2', not on this one: its pid cannot be checked against this "
                     "host's /proc/locks (a lock file on NFS)")


NEIGHBOURS_GID = 54321  # a group of the shared directory; the attacker is nobody plus this group


def _rewrite_record_as_a_group_member(path, record):
    """A real other user (nobody, member of the directory's group) rewrites the 0664 lock file."""
    os.setgroups([NEIGHBOURS_GID])
    os.setgid(NEIGHBOURS_GID)
    os.setuid(65534)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    os.write(fd, json.dumps(record).encode())
    os.close(fd)


@pytest.mark.parametrize('forged, reason', [
    (dict(since='2000-01-01T00:00:00Z'), 'says the lock was taken at .*, before that process started'),
    (dict(pid=1), 'its pid 1 does not hold the lock according to /proc/locks'),
])
def test_a_record_rewritten_by_a_group_member_is_flagged_and_not_given_to_the_holder(as_root, make_module, forged,
                                                                                     reason):
    with tempfile.TemporaryDirectory() as directory:
        os.chown(directory, 0, NEIGHBOURS_GID)
        os.chmod(directory, 0o2775)
        path = os.path.join(directory, 'x.lock')
        with acquire(path, 0, holder=HOLDER):
            record = dict(host=socket.gethostname(), pid=os.getpid(), boot_id=boot_id(),
                          since='2030-01-01T00:00:00Z', holder='forged-holder')
            record.update(forged)
            attacker = FORK.Process(target=_rewrite_record_as_a_group_member, args=(path, record))
            attacker.start()
            attacker.join(10)
            assert attacker.exitcode == 0
            module = make_module(lock_info.argument_spec(), path=path)
            warnings = []
            module.warn = warnings.append
            (lock,) = LockInfo(module).run()['locks']
    (holder,) = lock['holders']
    assert (holder['pid'], holder['holder'], holder['host'], holder['since_from']) == (
        os.getpid(), None, None, 'process_start')
    assert lock['owner_record']['holder'] == 'forged-holder' and lock['owner_record']['trusted'] is False
    assert re.search(reason, lock['owner_record']['trust_reason'])
    (warning,) = warnings
    assert warning.startswith('the owner record in lock %s is not trusted: ' % path)
    assert "names holder 'forged-holder', which may be false" in warning


def test_our_own_record_is_trusted_and_says_where_since_comes_from(tmp_path):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0, holder=HOLDER):
        report = lock_report(str(path))
    assert report['owner_record']['trusted'] is True
    assert report['owner_record']['trust_reason'].startswith('its pid %d holds the lock according to /proc/locks'
                                                             % os.getpid())
    assert report['holders'][0]['since_from'] == 'owner_record'


def test_a_relative_path_is_refused(make_module):
    with pytest.raises(HandoffError, match='^path spool/x.lock is a relative path'):
        run_lock_info(make_module, path='spool/x.lock')
