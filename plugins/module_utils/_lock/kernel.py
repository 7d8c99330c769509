# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel locks on a lock file that exclude, and are excluded by, util-linux ``flock(1)``.

``flock`` locks (the default) are what ``flock(1)`` takes, so a cron job doing
``flock /srv/in/x.lock mv ...`` and these modules wait for each other.
``fcntl`` (POSIX) locks are the kind NFS honours. Lock files are never
deleted: a process waiting on the old inode would otherwise lock nothing.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explain
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import HeldLock, LockKind, LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.filesystem import lock_filesystem_problem
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.holders import describe_holders
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.owner import (
    MAX_RECORD_BYTES, clear_owner_record, owner_record, parse_owner_record, write_owner_record)

LOCK_FILE_MODE = 0o664
_FIRST_RETRY = 0.001
_MAX_RETRY = 0.02


class KernelLock(HeldLock):
    """A kernel lock this process holds; closing the descriptor releases it."""

    def __init__(self, fd, path, lock_type, waited, recorded=False):
        self.fd = fd
        self.path = path
        self.lock_type = lock_type
        self.waited = waited
        self.recorded = recorded

    def confirm_before_publish(self, target):
        """Nothing to confirm: a kernel lock cannot be lost while this process keeps its descriptor open."""

    def confirm_held(self, what, details):
        """Nothing to confirm: a kernel lock cannot be lost while this process keeps its descriptor open."""

    def release(self):
        """Clear our owner record, then release the lock (idempotent)."""
        if self.fd is None:
            return
        try:
            if self.recorded:
                clear_owner_record(self.fd)
        finally:
            os.close(self.fd)
            self.fd = None


def _open_lock_file(path, lock_type, mode):
    """Open (creating if needed) the lock file; a directory is accepted for ``flock``.

    Through its directory's fd, whose own name is followed only when it is a link
    no other user could have placed (``/var/lock``): a state directory such as
    ``DIR/.handoff`` that another user of ``DIR`` replaced with a symlink must not
    get a lock file wherever that link leads.
    """
    parent, name = os.path.split(path.rstrip('/') or '/')
    with Directory.open_through_trusted_link(parent) as directory:
        return _open_lock_in(directory, name or '.', path, lock_type, mode)


def _open_lock_in(directory, name, path, lock_type, mode):
    try:
        st = directory.lstat(name)
    except OSError as exc:
        raise explain(exc, 'inspecting lock path', path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        if lock_type != 'flock':
            raise HandoffError('lock path %s is a directory; fcntl locks need a regular file, so give '
                               'a file path or use lock_type=flock' % path, lock_path=path)
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory.fd)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise HandoffError('lock path %s is a symlink; a lock file must be a plain file this module '
                           'opens itself (remove the link or point lock_path at its target)' % path,
                           lock_path=path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise HandoffError('lock path %s exists but is neither a regular file nor a directory' % path,
                           lock_path=path)
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags | os.O_RDWR | os.O_CREAT | os.O_EXCL, mode, dir_fd=directory.fd)
    except FileExistsError:
        pass
    else:
        _share_with_directory_group(fd, directory, mode)
        return fd
    try:
        return os.open(name, flags | os.O_RDWR, dir_fd=directory.fd)
    except PermissionError:
        if lock_type != 'flock':
            raise
        # flock(1) itself locks through a read-only descriptor; so can we.
        return os.open(name, flags | os.O_RDONLY, dir_fd=directory.fd)


def _share_with_directory_group(fd, directory, mode):
    """Whatever the umask, give a new lock file ``mode`` and its directory's group.

    A cron job under another account in that group can then take the same lock.
    """
    os.fchmod(fd, mode)
    try:
        os.fchown(fd, -1, os.fstat(directory.fd).st_gid)
    except PermissionError:
        pass  # not a member of that group: the file keeps ours, as with any new file


def parse_lock_mode(text):
    """``lock_mode`` (octal text such as ``0664``) as an int, or a HandoffError saying what is expected."""
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise HandoffError('lock_mode %r is not an octal file mode such as 0664' % (text,))
    return mode


def _check_filesystem(path, lock_type, on_network_fs, warn, judged):
    """Refuse or warn about a lock path whose filesystem would not exclude other hosts.

    ``judged`` holds the directories already judged with these settings: a
    drain takes hundreds of locks in one directory, and reading the mount
    table for each cost more than the moves themselves.
    """
    directory = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or '.')
    if judged is not None and directory in judged:
        return
    problem = lock_filesystem_problem(path, lock_type)
    if problem is not None and on_network_fs == 'fail':
        raise HandoffError(problem + '. (lock_on_network_fs=warn would go ahead with a warning.)', lock_path=path)
    if problem is not None and warn is not None:
        warn(problem)
    if judged is not None:
        judged.add(directory)


def _try_lock(fd, lock_type, shared):
    """One non-blocking attempt; True when the lock is now held."""
    try:
        if lock_type == 'flock':
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        else:
            fcntl.lockf(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _record_owner(fd, holder):
    """Write the owner record when we may; say if we did.

    Only into a regular, writable lock file that is empty or already holds a
    record: ``flock(1)`` lets a data file be its own lock (``flock balance.dat
    ./update.sh``), and a record there would overwrite that data. We hold the
    lock exclusively here, so nobody changes the file between read and write.
    """
    writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
    if not holder or not writable or not stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    try:
        current = os.pread(fd, MAX_RECORD_BYTES + 1, 0)
        if current and parse_owner_record(current) is None:
            return False
        write_owner_record(fd, owner_record(holder))
    except OSError:
        return False
    return True


class KernelLockKind(LockKind):
    """``flock`` or ``fcntl``: a lock on the file ``lock_path``, which is created when missing."""

    def __init__(self, lock_type):
        self.lock_type = lock_type

    def settings(self, module):
        params = module.params
        return dict(mode=parse_lock_mode(params['lock_mode']), on_network_fs=params['lock_on_network_fs'],
                    warn=module.warn, judged=set())

    def acquire(self, path, timeout, shared=False, holder=None, mode=LOCK_FILE_MODE, on_network_fs='fail',
                warn=None, judged=None):
        """Take the lock on the file ``path``; an exclusive ``holder`` leaves an owner record in it while it holds it.

        A lock on a filesystem where it would not exclude other hosts fails
        (``on_network_fs='fail'``) or is taken with a warning, once per
        directory in ``judged`` (a set shared by the locks of one run).
        """
        lock_type = self.lock_type
        _check_filesystem(path, lock_type, on_network_fs, warn, judged)
        try:
            fd = _open_lock_file(path, lock_type, mode)
        except OSError as exc:
            raise explain(exc, 'opening lock file', path)
        started = time.monotonic()
        deadline = started + timeout
        delay = _FIRST_RETRY
        try:
            while not _try_lock(fd, lock_type, shared):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockTimeout(
                        'lock %s is %s; waited lock_timeout=%ss. Retry later, raise lock_timeout, or '
                        'stop the holder' % (path, describe_holders(os.fstat(fd), os.getpid()), timeout),
                        lock_path=path, lock_wait=round(time.monotonic() - started, 3))
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_RETRY)
        except BaseException:
            os.close(fd)
            raise
        recorded = not shared and _record_owner(fd, holder)
        return KernelLock(fd, path, lock_type, round(time.monotonic() - started, 3), recorded)
