# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File-descriptor primitives for directories that other users may write.

Another user of a hand-off directory can replace any name in it between two
system calls (with a symlink to a root-only file, a FIFO, a hard link). So the
directory is opened once and every step goes through its fd: temps are created
exclusively and kept open, files are read only once they are known to be
regular, and a rename happens only while the name still holds the inode this
process judged, which is checked again right after.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import temp_name

_TEMP_ATTEMPTS = 16
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# The directories on the way are only searched (x), as path lookup does: O_PATH needs no read permission.
_WALK_FLAGS = getattr(os, 'O_PATH', os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(HandoffError):
    """A name that should hold a regular file holds something else, or changed under us."""


def same_inode(one, other):
    """True when two stat results describe the same file."""
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def open_regular(path, flags=os.O_RDONLY, dir_fd=None):
    """Open the regular file at ``path`` without following a symlink or blocking on a FIFO; return the fd.

    The fd is checked to be a regular file, then made blocking again for reading.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile('%s is a symlink; only regular files are read, never through a link' % path, path=path)
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile('%s is not a regular file (a FIFO, directory or device); only regular files are read'
                             % path, path=path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def fchown_quietly(fd, uid, gid):
    """``fchown`` where allowed: an unprivileged user's new file stays its own, as with cp."""
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        pass


def trusted_link(link, parent):
    """Whether the symlink ``link`` (an lstat) is this user's or root's, in a directory (``parent``, its stat) whose
    entries no other user can change: owned by them, not group- or other-writable unless sticky."""
    others_write = parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not parent.st_mode & stat.S_ISVTX
    return (stat.S_ISLNK(link.st_mode) and link.st_uid in (0, os.geteuid()) and parent.st_uid in (0, os.geteuid())
            and not others_write)


def trusted_entry(parent_fd, name):
    """Whether the entry ``name`` of the open directory ``parent_fd`` is a symlink no other user could have placed
    (``trusted_link``). Judged through the fd the walk holds, never by the path looked up again: another user could
    swap a directory on the way for a link in between, so that the path leads to somebody else's trusted link."""
    try:
        link = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        return False
    return trusted_link(link, os.fstat(parent_fd))


def _open_component(fd, name, walked):
    """Open the directory ``name`` in the directory ``fd`` (``walked`` is its path); a symlink there is followed
    only when no other user could have placed it (``trusted_entry``)."""
    try:
        return os.open(name, _WALK_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not stat.S_ISLNK(
                os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            raise
    if not trusted_entry(fd, name):
        raise UnsafeFile('%s is a symlink that another user could have placed (it is theirs, or in a directory other '
                         'users can write); paths are never followed through it, as it could lead anywhere. Replace '
                         'it with a directory' % walked, path=walked)
    return os.open(name, _WALK_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)


def _components(path):
    """The names on the way to ``path``, without empty ones and ``.``."""
    return [name for name in path.split('/') if name not in ('', '.')]


def _walk(path):
    """An fd on the directory ``path``, reached one component at a time from ``/`` (or the working directory) so that
    no symlink on the way is followed unless a trusted user placed it."""
    walked = '/' if path.startswith('/') else ''
    fd = os.open(walked or '.', _WALK_FLAGS)
    try:
        for name in _components(path):
            walked = os.path.join(walked, name)
            next_fd = _open_component(fd, name, walked)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _walk_to_parent(path):
    """``(fd of the directory that holds the last component of path, that component)``; see ``_walk``."""
    head, last = os.path.split(path.rstrip('/'))
    if not last:
        return _walk('/'), '.'
    return _walk(head or ('/' if path.startswith('/') else '.')), last


class Directory:
    """An open directory: every name below is looked up relative to this fd, never through ``path`` again.

    Opening walks the path one component at a time: a symlink on the way that
    another user of a shared directory planted is refused, not followed.
    """

    def __init__(self, fd, path):
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, path):
        """Open ``path`` (its last component may not be a symlink)."""
        path = path or '.'
        parent_fd, last = _walk_to_parent(path)
        try:
            return cls(os.open(last, _DIRECTORY_FLAGS, dir_fd=parent_fd), path)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeFile('%s is not a directory (a symlink or a file); the hand-off directory must be a '
                                 'real directory' % path, path=path)
            raise
        finally:
            os.close(parent_fd)

    @classmethod
    def open_through_trusted_link(cls, path):
        """Open ``path`` like ``open``, but follow it when it is a symlink no other user could have put there.

        Such a link is owned by this user or root and sits in a directory only they can change (or a sticky
        one, where nobody else may replace their entries): ``/var/lock -> /run/lock``. A link another user of
        a shared directory planted (or renamed into place) there is refused, as ``open`` refuses it.
        """
        try:
            return cls.open(path)
        except UnsafeFile:
            parent_fd, last = _walk_to_parent(path or '.')
            try:
                if not trusted_entry(parent_fd, last):
                    raise
                return cls(os.open(last, _DIRECTORY_FLAGS & ~os.O_NOFOLLOW, dir_fd=parent_fd), path)
            finally:
                os.close(parent_fd)

    def subdirectory(self, name, create=False):
        """Open the directory ``name`` in this one (made when missing and ``create``); a symlink there is refused."""
        if create:
            try:
                os.mkdir(name, 0o777, dir_fd=self.fd)
            except FileExistsError:
                pass
        try:
            return Directory(os.open(name, _DIRECTORY_FLAGS, dir_fd=self.fd), self.join(name))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeFile('%s is not a directory (a symlink or a file); files are never written through a '
                                 'link, which could lead elsewhere. Replace it with a directory' % self.join(name),
                                 path=self.join(name))
            raise

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def join(self, name):
        return os.path.join(self.path, name)

    def listdir(self):
        return os.listdir(self.fd)

    def lstat(self, name):
        """The entry ``name`` itself (a symlink is not followed), or None when there is none."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_regular(self, name, flags=os.O_RDONLY):
        return open_regular(name, flags, dir_fd=self.fd)

    def create_temp(self, name, mode=0o600):
        """Create ``.NAME.<random>.tmp`` exclusively (never through a symlink); return ``(fd, temp name)``."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        attempts_left = _TEMP_ATTEMPTS
        while True:
            temp = temp_name(name)
            try:
                fd = os.open(temp, flags, mode, dir_fd=self.fd)
            except FileExistsError:
                attempts_left -= 1
                if not attempts_left:
                    raise
                continue
            os.fchmod(fd, mode)
            return fd, temp

    def rename_verified(self, name, st, target, target_name):
        """Rename ``name`` (which must still be the file ``st``) to ``target_name`` in the Directory ``target``.

        Checked before and after: another user who swapped either name makes
        this raise UnsafeFile instead of publishing their file.
        """
        current = self.lstat(name)
        if current is None or not same_inode(current, st):
            raise UnsafeFile('%s was replaced by another file before it could be renamed onto %s; another user of '
                             'the directory changed it. Nothing was published; make sure only trusted users can '
                             'write %s' % (self.join(name), target.join(target_name), self.path),
                             path=self.join(name))
        try:
            os.rename(name, target_name, src_dir_fd=self.fd, dst_dir_fd=target.fd)
        except OSError as exc:
            if exc.errno not in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY):
                raise
            raise UnsafeFile('%s could not be renamed onto %s: one of them is a directory now; another user of the '
                             'directory may have put it there. Nothing was renamed; remove it and re-run the task'
                             % (self.join(name), target.join(target_name)), path=target.join(target_name))
        placed = target.lstat(target_name)
        if placed is None or not same_inode(placed, st):
            raise UnsafeFile('%s was replaced by another file right after the rename; another user of the directory '
                             'changed it. Make sure only trusted users can write %s'
                             % (target.join(target_name), target.path), path=target.join(target_name))

    def unlink_if_same(self, name, st):
        """Unlink ``name`` only while it is still the file ``st``; return whether it was removed."""
        current = self.lstat(name)
        if current is None or not same_inode(current, st):
            return False
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def fsync(self):
        """Flush the directory's entries (a rename is only durable once this returns)."""
        os.fsync(self.fd)
