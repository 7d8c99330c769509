# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File attributes (mode, owner, group, SELinux, chattr) set before a file becomes visible.

A file renamed into place must already carry its final mode: a reader must
never see it at the temp file's 0600, nor at a looser mode than asked.
"""

from __future__ import annotations

import os
import stat


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def inherit_attributes(path, like):
    """Give the new file ``path`` the mode and ownership of the file it replaces, else 0666 & ~umask."""
    try:
        st = os.lstat(like)
    except FileNotFoundError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        os.chmod(path, 0o666 & ~_umask())
        return
    os.chmod(path, stat.S_IMODE(st.st_mode))
    try:
        os.chown(path, st.st_uid, st.st_gid)
    except PermissionError:
        pass  # an unprivileged user's new file is its own, as with cp


def apply_file_attributes(module, path, like=None):
    """Apply the task's file options to ``path``; return whether anything changed.

    With ``like``, ``path`` is a new file about to replace ``like``: it first
    takes ``like``'s mode and ownership, so options the task leaves unset keep
    their current values, as with ``ansible.builtin.copy``.
    """
    if like is not None:
        inherit_attributes(path, like)
    file_args = module.load_file_common_arguments(module.params, path=path)
    return module.set_fs_attributes_if_different(file_args, False)
