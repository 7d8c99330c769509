# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Making the missing directories above a file (``create_parents``) where other users may write.

``os.makedirs`` goes by path: another user of a shared parent could plant a
symlink where a directory is about to be made, and root would then create
(and chmod) directories wherever the link leads. Here every step is relative
to the fd of the directory above, from ``/`` down: a component is opened
without following a link, a missing one is made with ``mkdir`` in that fd and
opened again, and a directory made here must still be this user's when it is
opened. A symlink on the way is followed only when this user or root put it
where nobody else could (``/var/run -> /run``); any other is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import mode_of
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile, trusted_entry
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explain, explained

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def directory_mode_of(mode):
    """The permission bits ``directory_mode`` asks for (octal or symbolic, as ``mode``), or None for the umask's."""
    if mode is None or mode == '':
        return None
    return mode_of(mode, os.stat_result((stat.S_IFDIR | 0o755,) + (0,) * 9))


def make_parent_directories(paths, mode=None, check_mode=False):
    """Make the directories of ``paths`` (files) and their missing parents; return the directories made, top down.

    In check mode nothing is made and the directories that would be are
    returned. ``mode`` (permission bits, None for ``0777 & ~umask``) is given
    to each directory made here; one that exists keeps its mode.
    """
    made = []
    for directory in sorted({os.path.abspath(os.path.dirname(path) or '.') for path in paths if path}):
        made.extend(made_here for made_here in make_directory(directory, mode, check_mode) if made_here not in made)
    return made


def make_directory(path, mode=None, check_mode=False):
    """Make the directory ``path`` (absolute) and its missing parents; return those made (or to be), top down."""
    if os.path.isdir(path):
        return []
    parts = [part for part in path.split('/') if part]
    made = []
    current = Directory.open('/')
    try:
        for depth, name in enumerate(parts, 1):
            child_path = '/' + '/'.join(parts[:depth])
            child = _open_child(current, name, child_path)
            if child is None:
                if check_mode:
                    return made + ['/' + '/'.join(parts[:below]) for below in range(depth, len(parts) + 1)]
                child, created = _make_child(current, name, child_path, mode)
                if created:
                    made.append(child_path)
            current.close()
            current = child
    finally:
        current.close()
    return made


def _open_child(parent, name, path):
    """The Directory ``name`` in ``parent`` (``path``), None when there is none; a planted symlink is refused."""
    try:
        return Directory(os.open(name, _DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=parent.fd), path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise explain(exc, 'opening directory', path) from exc
    st = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise UnsafeFile('cannot create the directories below %s: it is not a directory (a file or a device); '
                         'remove it or choose another path' % path, path=path)
    if not trusted_entry(parent.fd, name):
        raise UnsafeFile('refusing to create directories through %s: it is a symlink owned by uid %d in %s, which '
                         'other users can write, so it may have been planted to redirect what is created. Nothing '
                         'was created there; remove the link or make the directory yourself'
                         % (path, st.st_uid, parent.path), path=path)
    with explained('opening directory', path):
        return Directory(os.open(name, _DIRECTORY_FLAGS, dir_fd=parent.fd), path)


def _make_child(parent, name, path, mode):
    """``(Directory, whether this call made it)`` for ``name`` in ``parent``, made with ``mode`` when missing.

    A directory made here is opened again without following links and must be
    this user's: another user who swapped it for a link or a directory of
    their own in between is refused. The set-group-ID bit a shared parent
    passes on is kept beside ``mode``; the new entry is fsynced in ``parent``.
    """
    try:
        os.mkdir(name, 0o777 if mode is None else 0o700, dir_fd=parent.fd)
    except FileExistsError:
        child = _open_child(parent, name, path)
        if child is None:
            raise UnsafeFile('%s appeared and vanished while it was being created; another user is changing %s. '
                             'Re-run the task' % (path, parent.path), path=path)
        return child, False
    except OSError as exc:
        raise explain(exc, 'creating directory', path) from exc
    try:
        child = Directory(os.open(name, _DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=parent.fd), path)
    except OSError as exc:
        raise UnsafeFile('%s was replaced by a symlink or a file right after it was created (%s); another user of %s '
                         'changed it. Nothing was created through it' % (path, exc.strerror, parent.path), path=path)
    st = os.fstat(child.fd)
    if st.st_uid != os.geteuid():
        child.close()
        raise UnsafeFile('%s was replaced by a directory of uid %d right after it was created; another user of %s '
                         'changed it. Nothing was created in it' % (path, st.st_uid, parent.path), path=path)
    if mode is not None:
        os.fchmod(child.fd, mode | (st.st_mode & stat.S_ISGID))
    parent.fsync()
    return child, True
