# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Locks against real processes: util-linux flock(1), other Python processes, forked workers."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire, optional_lock

FORK = multiprocessing.get_context('fork')

_FCNTL_PROBE = '''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)
'''


def flock_nonblocking(flock_cmd, path, *options):
    """Exit status of ``flock -n [options] PATH true``: 0 got the lock, 1 it was held."""
    return subprocess.run([flock_cmd, '-n', *options, str(path), 'true'], check=False).returncode


def fcntl_nonblocking(path):
    """Exit status of another process trying a POSIX lock on ``path``: 0 got it, 1 it was held."""
    return subprocess.run([sys.executable, '-c', _FCNTL_PROBE, str(path)], check=False).returncode


def test_lock_file_is_created_and_kept_after_release(tmp_path):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0) as lock:
        assert stat.S_ISREG(os.stat(path).st_mode)
        assert lock.path == str(path) and lock.lock_type == 'flock'
    assert path.exists()


def test_lock_file_is_created_with_the_documented_mode_0664_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        acquire(str(tmp_path / 'x.lock'), 0).release()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / 'x.lock').st_mode) == 0o664


def test_free_lock_is_taken_without_waiting(tmp_path):
    with acquire(str(tmp_path / 'x.lock'), 5) as lock:
        assert lock.waited < 0.1


def test_held_lock_makes_flock1_fail_until_released(tmp_path, flock_cmd):
    path = tmp_path / 'x.lock'
    lock = acquire(str(path), 0)
    assert flock_nonblocking(flock_cmd, path) == 1
    lock.release()
    assert flock_nonblocking(flock_cmd, path) == 0


def test_flock1_holder_makes_acquire_time_out_naming_path_pid_and_command(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    started = time.monotonic()
    with pytest.raises(LockTimeout) as caught:
        acquire(str(path), 0.3)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5
    msg = caught.value.msg
    assert msg.startswith('lock %s is held by pid %d (%s) [FLOCK WRITE]' % (path, holder.pid, holder.command))
    assert 'lock_timeout=0.3s' in msg
    assert caught.value.details['lock_path'] == str(path)
    assert caught.value.details['lock_wait'] >= 0.3


def test_the_holder_named_on_timeout_comes_from_proc_locks_never_from_a_record_in_the_file(tmp_path, hold_lock):
    """Anyone who may write the 0664 lock file can put a record there; the message names the kernel's holder."""
    path = tmp_path / 'x.lock'
    path.write_text('{"host": "h", "pid": %d, "since": "2026-01-01T00:00:00Z", "holder": "forged-holder"}'
                    % os.getpid())
    holder = hold_lock(path)
    with pytest.raises(LockTimeout) as caught:
        acquire(str(path), 0)
    assert 'held by pid %d (%s)' % (holder.pid, holder.command) in caught.value.msg
    assert 'forged-holder' not in caught.value.msg and 'pid %d ' % os.getpid() not in caught.value.msg


def test_timeout_zero_makes_one_attempt_only(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    hold_lock(path)
    started = time.monotonic()
    with pytest.raises(LockTimeout):
        acquire(str(path), 0)
    assert time.monotonic() - started < 0.2


def test_acquire_waits_until_flock1_holder_releases(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path)
    threading.Timer(0.3, holder.release).start()
    with acquire(str(path), 5) as lock:
        assert 0.2 <= lock.waited < 2


def test_shared_locks_coexist_but_exclude_an_exclusive_one(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    hold_lock(path, '-s')
    with acquire(str(path), 0, shared=True):
        pass
    with pytest.raises(LockTimeout, match=r'\[FLOCK READ\]'):
        acquire(str(path), 0)


def test_release_is_idempotent(tmp_path, flock_cmd):
    path = tmp_path / 'x.lock'
    lock = acquire(str(path), 0)
    lock.release()
    lock.release()
    assert lock.fd is None
    assert flock_nonblocking(flock_cmd, path) == 0


def test_directory_lock_path_excludes_flock1_on_the_same_directory(tmp_path, flock_cmd):
    directory = tmp_path / 'spool'
    directory.mkdir()
    with acquire(str(directory), 0):
        assert flock_nonblocking(flock_cmd, directory) == 1
    assert flock_nonblocking(flock_cmd, directory) == 0


def test_fcntl_lock_on_a_directory_is_refused(tmp_path):
    with pytest.raises(HandoffError, match='is a directory; fcntl locks need a regular file'):
        acquire(str(tmp_path), 0, lock_type='fcntl')


def test_symlink_lock_path_is_refused_and_its_target_left_alone(tmp_path):
    target = tmp_path / 'target'
    link = tmp_path / 'x.lock'
    link.symlink_to(target)
    with pytest.raises(HandoffError, match='is a symlink'):
        acquire(str(link), 0)
    assert not target.exists()


def test_lock_in_a_directory_reached_through_this_users_own_symlink_is_taken(tmp_path, flock_cmd):
    """``/var/lock -> /run/lock``: a symlink nobody else could have put there is followed to its directory."""
    (tmp_path / 'run-lock').mkdir()
    (tmp_path / 'var-lock').symlink_to(tmp_path / 'run-lock')
    os.chmod(tmp_path, 0o755)
    with acquire(str(tmp_path / 'var-lock' / 'app.lock'), 0):
        assert flock_nonblocking(flock_cmd, tmp_path / 'run-lock' / 'app.lock') == 1
    assert flock_nonblocking(flock_cmd, tmp_path / 'run-lock' / 'app.lock') == 0


def test_fifo_lock_path_is_refused(tmp_path):
    fifo = tmp_path / 'x.lock'
    os.mkfifo(fifo)
    with pytest.raises(HandoffError, match='neither a regular file nor a directory'):
        acquire(str(fifo), 0)


def test_missing_lock_directory_is_explained(tmp_path):
    path = tmp_path / 'missing' / 'x.lock'
    with pytest.raises(HandoffError) as caught:
        acquire(str(path), 0)
    assert caught.value.details['errno'] == 'ENOENT'
    assert str(path) in caught.value.msg


@pytest.mark.parametrize('kwargs, message', [
    (dict(timeout=1, lock_type='posix'), "lock_type 'posix' is not one of flock, fcntl"),
])
def test_bad_arguments_are_refused_before_any_lock_file_is_made(tmp_path, kwargs, message):
    path = tmp_path / 'x.lock'
    with pytest.raises(HandoffError, match=message):
        acquire(str(path), **kwargs)
    assert not path.exists()


def test_fcntl_lock_does_not_exclude_flock1(tmp_path, flock_cmd):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0, lock_type='fcntl'):
        assert flock_nonblocking(flock_cmd, path) == 0


def test_fcntl_lock_excludes_another_process_fcntl_lock(tmp_path):
    path = tmp_path / 'x.lock'
    with acquire(str(path), 0, lock_type='fcntl'):
        assert fcntl_nonblocking(path) == 1
    assert fcntl_nonblocking(path) == 0


def test_other_process_fcntl_lock_makes_fcntl_acquire_time_out_naming_it(tmp_path, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path, kind='fcntl')
    with pytest.raises(LockTimeout) as caught:
        acquire(str(path), 0.3, lock_type='fcntl')
    assert 'held by pid %d (%s) [POSIX WRITE]' % (holder.pid, holder.command) in caught.value.msg


def test_optional_lock_not_wanted_takes_no_lock(tmp_path):
    path = tmp_path / 'x.lock'
    with optional_lock(False, str(path), timeout=0, lock_type='flock') as lock:
        assert lock is None
    assert not path.exists()


def test_optional_lock_wanted_holds_for_the_block_only(tmp_path, flock_cmd):
    path = tmp_path / 'x.lock'
    with optional_lock(True, str(path), timeout=0, lock_type='flock') as lock:
        assert lock.fd is not None
        assert flock_nonblocking(flock_cmd, path) == 1
    assert flock_nonblocking(flock_cmd, path) == 0


def _count_up(counter, lock_path, start, rounds):
    """Worker: read, pause, write ``counter`` ``rounds`` times, under the lock when given one."""
    start.wait()
    for dummy in range(rounds):
        if lock_path:
            with acquire(lock_path, 30):
                _increment(counter)
        else:
            _increment(counter)


def _increment(counter):
    with open(counter, 'r+') as handle:
        value = int(handle.read())
        time.sleep(0.001)
        handle.seek(0)
        handle.write('%08d' % (value + 1))


def _run_counters(tmp_path, locked, workers=6, rounds=100):
    counter = tmp_path / 'counter'
    counter.write_text('%08d' % 0)
    lock_path = str(tmp_path / 'counter.lock') if locked else None
    start = FORK.Event()
    procs = [FORK.Process(target=_count_up, args=(str(counter), lock_path, start, rounds))
             for dummy in range(workers)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * workers
    return int(counter.read_text())


def test_six_processes_under_the_lock_lose_no_increment(tmp_path):
    assert _run_counters(tmp_path, locked=True) == 600


def test_six_processes_without_the_lock_lose_increments(tmp_path):
    assert _run_counters(tmp_path, locked=False) < 600


def _lock_as_nobody(path, held, done):
    os.setgid(65534)
    os.setuid(65534)
    with acquire(path, 0):
        held.set()
        done.wait(10)


def test_unprivileged_user_locks_a_lock_file_it_may_only_read(as_root, flock_cmd):
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, 'x.lock')
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        held, done = FORK.Event(), FORK.Event()
        proc = FORK.Process(target=_lock_as_nobody, args=(path, held, done))
        proc.start()
        try:
            assert held.wait(10)
            assert flock_nonblocking(flock_cmd, path) == 1
        finally:
            done.set()
            proc.join(10)
        assert proc.exitcode == 0


def test_owner_record_never_overwrites_a_data_file_used_as_its_own_lock(tmp_path):
    """flock(1) lets a data file be its lock (``flock balance.dat ./update.sh``): its content must survive."""
    data = tmp_path / 'balance.dat'
    data.write_bytes(b'precious data\n')
    with acquire(str(data), 0, holder='lockstep.handoff.locked_command') as lock:
        assert not lock.recorded
        assert data.read_bytes() == b'precious data\n'
    assert data.read_bytes() == b'precious data\n'


def test_owner_record_replaces_a_stale_record_and_is_cleared_on_release(tmp_path):
    path = tmp_path / 'x.lock'
    path.write_text('{"host": "h0", "pid": 1, "since": "2026-01-01T00:00:00Z", "holder": "crashed"}\n')
    with acquire(str(path), 0, holder='lockstep.handoff.locked_move') as lock:
        assert lock.recorded
        assert '"holder": "lockstep.handoff.locked_move"' in path.read_text()
    assert path.read_bytes() == b''
