# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``backup=true``: keep a copy of the file about to be replaced, on file descriptors.

The backup's name is predictable (``DEST.<pid>.<YYYY-MM-DD@HH:MM:SS>~``, as
``ansible.builtin.copy`` names it), so another user of the directory can plant
it first as a symlink to a root-only file; and dest itself may be a link or a
FIFO. So dest is read only as a regular file, the backup is created
exclusively without following a link, and both are handled through their fds.
"""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile, fchown_quietly
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import copy_with_sha256

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Never give a copy setuid, setgid or sticky bits: its owner is this process, not the file's.
_PLAIN_MODE_BITS = 0o777


def backup_name(name):
    """``NAME.<pid>.<YYYY-MM-DD@HH:MM:SS>~``, the name ``ansible.builtin.copy`` gives a backup."""
    return '%s.%d.%s' % (name, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime()))


def back_up(directory, name):
    """Copy the regular file ``name`` in the Directory ``directory`` to a new backup beside it; return its path.

    The backup gets dest's owner and group where allowed, its mode (see
    ``_mode_for``) and its times, and is flushed to disk before dest is replaced.
    """
    path = directory.join(name)
    src_fd = directory.open_regular(name)
    try:
        src_st = os.fstat(src_fd)
        backup = backup_name(name)
        try:
            dst_fd = os.open(backup, _CREATE_FLAGS, 0o600, dir_fd=directory.fd)
        except FileExistsError:
            raise UnsafeFile('the backup name %s exists already (another user may have planted it); no backup was '
                             'made and %s was not replaced. Remove it and re-run the task' % (directory.join(backup), path),
                             path=directory.join(backup))
        try:
            copy_file(src_fd, src_st, dst_fd)
        except BaseException:
            directory.unlink_if_same(backup, os.fstat(dst_fd))
            raise
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    directory.fsync()
    return directory.join(backup)


def copy_file(src_fd, src_st, dst_fd):
    """Copy the open file ``src_fd`` (whose stat is ``src_st``) into the new file ``dst_fd``: data, owner and group
    where allowed, mode (see ``_mode_for``) and times, flushed to disk; return ``(sha256, size)`` of the data."""
    digest = copy_with_sha256(src_fd, dst_fd)
    fchown_quietly(dst_fd, src_st.st_uid, src_st.st_gid)
    os.fchmod(dst_fd, _mode_for(src_st, os.fstat(dst_fd)))
    os.utime(dst_fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
    os.fsync(dst_fd)
    return digest


def _mode_for(src_st, backup_st):
    """dest's mode without special bits; without group bits when the backup could not get dest's group (an
    unprivileged user's copy in a setgid directory gets the directory's group, whose members dest kept out)."""
    mode = stat.S_IMODE(src_st.st_mode) & _PLAIN_MODE_BITS
    if backup_st.st_gid != src_st.st_gid:
        mode &= ~0o070
    return mode
