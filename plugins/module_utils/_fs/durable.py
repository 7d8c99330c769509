# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Durable publication: temp in the same directory, fsync, rename, fsync the directory.

``rename(2)`` within one directory is atomic, so a reader sees the old file or
the new one; the fsyncs make the new name survive a power cut as well.
"""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, fchown_quietly
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import is_temp_name_of, temp_target_name


def is_temp_of(dest, candidate):
    """True when ``candidate`` is exactly ``DIR/.NAME.<12 hex>.tmp`` for ``dest`` (relative names: from the cwd)."""
    return is_temp_name_of(os.path.abspath(candidate), os.path.abspath(dest))


def temps_of(dest):
    """Protocol temp files for ``dest`` present in its directory (left by interrupted uploads, or live)."""
    directory = os.path.dirname(dest) or '.'
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(directory, name) for name in names
                  if is_temp_of(dest, os.path.join(directory, name)))


def temps_for_names(directory, names):
    """Protocol temps in ``directory`` of any of ``names``, from one listing (not one per name).

    A drain moving hundreds of files into one directory would otherwise list
    it once per file.
    """
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    wanted = set(names)
    return sorted(os.path.join(directory, entry) for entry in entries if temp_target_name(entry) in wanted)


def create_temp_beside(dest):
    """Create ``DIR/.NAME.<random>.tmp`` (0600, exclusive, never through a symlink) and close it; return its path.

    For a producer that fills the temp by name afterwards (the controller's
    direct transfer), so only where no other user can replace the name.
    """
    with Directory.open(os.path.dirname(dest)) as directory:
        fd, temp = directory.create_temp(os.path.basename(dest))
        os.close(fd)
    return directory.join(temp)


def write_bytes_durably(dest, data, mode=0o644, owner=None):
    """Write ``data`` to ``dest`` by the full protocol: temp, write, fsync, rename, fsync dir.

    The temp gets ``mode`` and, where this user may give it, ``owner`` (a
    ``(uid, gid)`` pair) through its fd before it is renamed into place.
    """
    with Directory.open(os.path.dirname(dest)) as directory:
        fd, temp = directory.create_temp(os.path.basename(dest))
        st = os.fstat(fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if owner is not None:
                    fchown_quietly(fd, *owner)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            directory.rename_verified(temp, st, directory, os.path.basename(dest))
        except BaseException:
            directory.unlink_if_same(temp, st)
            raise
        directory.fsync()


def remove_durably(path):
    """Unlink the entry ``path`` (never what a symlink there points to) and flush its directory; return whether it existed."""
    with Directory.open(os.path.dirname(path)) as directory:
        try:
            os.unlink(os.path.basename(path), dir_fd=directory.fd)
        except FileNotFoundError:
            return False
        directory.fsync()
    return True


def remove_quietly(path):
    """Best-effort unlink for clean-up paths, where the original error matters more."""
    try:
        os.unlink(path)
    except OSError:
        pass
