# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File attributes (mode, owner, group, SELinux, chattr) set before a file becomes visible.

A file renamed into place must already carry its final mode: a reader must
never see it at the temp file's 0600, nor at a looser mode than asked. Mode,
owner and group are set through the fd this process holds (``fchmod``,
``fchown``): by name, another user of the directory could swap the file for a
symlink to one of root's and have root chmod that instead.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import fchown_quietly
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.trusted_path import others_can_replace

_NAMED_OPTIONS = ('seuser', 'serole', 'setype', 'selevel', 'attributes')


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def trusted_owner(st, params=None):
    """True when the file ``st`` is owned by this process's user or root (or the owner the task asks for).

    Anyone else's file lends nothing: an attacker who pre-creates dest 0666
    must not get root's secret published at 0666, nor keep owning it.
    """
    trusted = {os.geteuid(), 0}
    if params is not None and params.get('owner') is not None:
        trusted.add(uid_of(params['owner']))
    return st.st_uid in trusted


def uid_of(owner):
    try:
        return int(owner)
    except ValueError:
        try:
            return pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise HandoffError('owner %s is not a user on this host; create the user or name another' % owner)


def gid_of(group):
    try:
        return int(group)
    except ValueError:
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            raise HandoffError('group %s is not a group on this host; create the group or name another' % group)


def mode_of(mode, st):
    """The permission bits ``mode`` (an int, octal string or symbolic like ``u=rw,g=r``) asks for a file ``st``."""
    if isinstance(mode, int):
        wanted = mode
    else:
        try:
            wanted = int(mode, 8)
        except ValueError:
            try:
                wanted = AnsibleModule._symbolic_mode_to_octal(st, mode)
            except ValueError as exc:
                raise HandoffError('mode %r is neither octal nor symbolic (u=rw,g=r): %s' % (mode, exc))
    if wanted != stat.S_IMODE(wanted):
        raise HandoffError('mode %r holds more than permission bits; give e.g. 0644' % (mode,))
    return wanted


def inherit_attributes(fd, like):
    """Give the new file ``fd`` the mode and ownership of the file it replaces (``like``, a stat or None).

    Only a regular file owned by this user or root lends them; otherwise (none,
    a symlink, another user's file) the new file gets 0666 & ~umask and stays ours.
    """
    if like is None or not stat.S_ISREG(like.st_mode) or not trusted_owner(like):
        os.fchmod(fd, 0o666 & ~_umask())
        return
    os.fchmod(fd, stat.S_IMODE(like.st_mode))
    fchown_quietly(fd, like.st_uid, like.st_gid)


def _set_ownership_and_mode(module, fd):
    """Apply ``owner``, ``group`` and ``mode`` through ``fd``; return whether one differed."""
    params = module.params
    st = os.fstat(fd)
    uid = uid_of(params['owner']) if params.get('owner') is not None else st.st_uid
    gid = gid_of(params['group']) if params.get('group') is not None else st.st_gid
    changed = False
    if (uid, gid) != (st.st_uid, st.st_gid):
        changed = True
        if not module.check_mode:
            try:
                os.fchown(fd, uid, gid)
            except OSError as exc:
                raise HandoffError('cannot give %s owner %s and group %s: %s' % (
                    module.params.get('dest'), uid, gid, exc.strerror))
            st = os.fstat(fd)
    if params.get('mode') is not None:
        mode = mode_of(params['mode'], st)
        if mode != stat.S_IMODE(st.st_mode):
            changed = True
            if not module.check_mode:
                os.fchmod(fd, mode)
    return changed


def _set_named_attributes(module, path):
    """SELinux context and chattr flags, which only go by name: refused where another user can replace it."""
    if not any(module.params.get(option) is not None for option in _NAMED_OPTIONS):
        return False
    reason = others_can_replace(os.path.dirname(path) or '.')
    if reason:
        raise HandoffError('the SELinux (seuser, serole, setype, selevel) and attributes options are applied by '
                           'name, and %s: another user could swap %s for a link to a file of theirs choosing. '
                           'Drop those options, or publish into a directory only you and root can write'
                           % (reason, path), path=path)
    file_args = module.load_file_common_arguments(module.params, path=path)
    changed = module.set_context_if_different(path, file_args['secontext'], False)
    return module.set_attributes_if_different(path, file_args['attributes'], changed)


def apply_file_attributes(module, fd, path, like=None, inherit=False):
    """Apply the task's file options to the open file ``fd`` (named ``path``); return whether anything changed.

    With ``inherit``, ``fd`` is a new file about to replace the file ``like``
    (a stat, or None): it first takes ``like``'s mode and ownership, so options
    the task leaves unset keep their current values, as with ``ansible.builtin.copy``.
    """
    if inherit:
        inherit_attributes(fd, like)
    changed = _set_ownership_and_mode(module, fd)
    return _set_named_attributes(module, path) or changed


def marker_attributes(data_st):
    """``(mode, (uid, gid))`` for a marker describing the file ``data_st``: no wider than the data, same owner.

    A 0600 secret's sha256 stays as private as the secret (execute bits dropped).
    """
    return stat.S_IMODE(data_st.st_mode) & 0o666, (data_st.st_uid, data_st.st_gid)


def stats_of_set(dest, entries):
    """The stat of each file of a set (FileEntry ``entries``) now below ``dest``; missing files are left out."""
    stats = []
    for entry in entries:
        try:
            stats.append(os.lstat(os.path.join(dest, entry.path)))
        except FileNotFoundError:
            continue
    return stats


def set_marker_attributes(stats):
    """``(mode, owner)`` for a manifest describing the files ``stats``: no wider than the narrowest of them.

    The owner is theirs when they share one, else left to this user.
    """
    mode = 0o666
    for st in stats:
        mode &= stat.S_IMODE(st.st_mode)
    owners = {(st.st_uid, st.st_gid) for st in stats}
    return (mode if stats else 0o644), (owners.pop() if len(owners) == 1 else None)
