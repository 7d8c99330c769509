# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Refuse to "lock" where the lock would exclude nobody.

On NFS, SMB and FUSE filesystems a lock may be emulated, or seen only by
processes on this client (``local_lock=``, ``nolock``, most FUSE servers): a
task would run effectively unlocked while reporting success. The mount table
(``/proc/self/mountinfo``) tells which filesystem holds the lock path.
"""

from __future__ import annotations

import os

PROC_MOUNTINFO = '/proc/self/mountinfo'
_NFS = ('nfs', 'nfs4')
_SMB = ('cifs', 'smb3', 'smbfs')


def _unescape(field):
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return field.replace('\\040', ' ').replace('\\011', '\t').replace('\\012', '\n').replace('\\134', '\\')


def mount_of(path, mountinfo=None):
    """The mount holding ``path``: ``{'mount_point', 'fstype', 'source', 'options'}``, or None if unknown."""
    target = os.path.realpath(path)
    best = None
    try:
        with open(mountinfo or PROC_MOUNTINFO) as handle:
            lines = handle.readlines()
    except OSError:
        return None
    for line in lines:
        before, separator, after = line.partition(' - ')
        fields, tail = before.split(), after.split()
        if not separator or len(fields) < 6 or len(tail) < 3:
            continue
        mount_point = _unescape(fields[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip('/') + '/')
        if inside and (best is None or len(mount_point) >= len(best['mount_point'])):
            options = set(fields[5].split(',')) | set(tail[2].split(','))
            best = {'mount_point': mount_point, 'fstype': tail[0], 'source': _unescape(tail[1]),
                    'options': options}
    return best


def _local_lock_modes(options):
    """Which lock kinds an NFS mount keeps local to this client (``local_lock=`` / ``nolock``)."""
    if 'nolock' in options:
        return {'flock', 'fcntl'}
    for option in options:
        if option.startswith('local_lock='):
            value = option.split('=', 1)[1]
            return {'all': {'flock', 'fcntl'}, 'flock': {'flock'}, 'posix': {'fcntl'}}.get(value, set())
    return set()


def lock_filesystem_problem(lock_path, lock_type, mountinfo=None):
    """Why a ``lock_type`` lock at ``lock_path`` would not exclude other hosts' processes, or None."""
    directory = lock_path if os.path.isdir(lock_path) else (os.path.dirname(lock_path) or '.')
    mount = mount_of(directory, mountinfo)
    if mount is None:
        return None
    where = 'lock path %s is on %s (%s at %s)' % (lock_path, mount['fstype'], mount['source'], mount['mount_point'])
    fstype = mount['fstype']
    if fstype in _NFS:
        local = _local_lock_modes(mount['options'])
        if lock_type in local:
            return ('%s, mounted with %s: its %s locks are local to this client, so other hosts do not see them. '
                    'Remount without it, or lock on a local filesystem'
                    % (where, 'nolock' if 'nolock' in mount['options'] else 'local_lock', lock_type))
        if lock_type == 'flock':
            return ('%s: flock(2) locks there are emulated with byte-range locks or kept local to one client. '
                    'Use lock_type=fcntl (the kind NFS servers arbitrate) for every party' % where)
    elif fstype in _SMB and lock_type == 'flock':
        return ('%s: flock(2) locks are not passed to the SMB server. Use lock_type=fcntl for every party' % where)
    elif fstype.startswith('fuse.') or fstype == 'fuse':
        return ('%s: a FUSE filesystem, whose locks exclude only processes on this host unless its server '
                'implements them. Lock on a local filesystem' % where)
    return None
