# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether anyone but this process's user and root can replace names below a directory.

Some steps can only go by name: the controller's transfer writes a path
(sftp, scp, a local copy), SELinux and chattr take paths. Those are safe only
where no other user can swap an entry on the way: every directory from ``/``
down must be owned by this user or root, and not writable by group or others
unless sticky (then only an entry's owner may replace it, and the entries on
the way are this user's or root's). A POSIX access ACL cannot grant more than
the group bits show: they are its mask, which bounds every named entry.
"""

from __future__ import annotations

import os
import stat


def others_can_replace(directory):
    """None when only this user and root can replace entries on the way to ``directory``, else why not."""
    trusted = {os.geteuid(), 0}
    for path in _ancestors(os.path.abspath(directory)) + _ancestors(os.path.realpath(directory)):
        try:
            st = os.lstat(path)
        except OSError as exc:
            return 'cannot look at %s (%s)' % (path, exc.strerror)
        if st.st_uid not in trusted:
            return '%s is owned by uid %d, not by this user or root' % (path, st.st_uid)
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            return '%s is writable by %s (mode %04o)' % (
                path, 'others' if st.st_mode & stat.S_IWOTH else 'its group', stat.S_IMODE(st.st_mode))
    return None


def _ancestors(path):
    """``path`` and every directory above it, from ``/`` down (symlinks on the way are checked as entries)."""
    chain = []
    while True:
        chain.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            return chain[::-1]
        path = parent
