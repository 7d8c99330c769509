# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who holds a lock: ``/proc/locks`` matched by device and inode, as ``lslocks`` does.

An error that says "held by pid 4242 (flock -w 5 /srv/in/x.lock mv ...)" saves
an operator the search for the process that blocks a hand-off.
"""

from __future__ import annotations

import os

PROC_LOCKS = '/proc/locks'


def _parse_line(line):
    """One ``/proc/locks`` line as a dict, or None for lines of no known shape."""
    fields = line.split()
    if len(fields) < 8:
        return None
    waiting = fields[1] == '->'
    if waiting:
        fields = fields[:1] + fields[2:]
    try:
        kind, mode, pid = fields[1], fields[3], int(fields[4])
        major, minor, inode = fields[5].split(':')
        device = (int(major, 16), int(minor, 16))
        inode = int(inode)
    except ValueError:
        return None
    return {'kind': kind,
            'mode': mode, 'pid': pid, 'device': device, 'inode': inode, 'waiting': waiting}


def command_line(pid):
    """The command line of ``pid`` as one string, or None when it cannot be read."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            raw = handle.read(4096)
    except OSError:
        return None
    return raw.rstrip(b'\0').replace(b'\0', b' ').decode('utf-8', 'replace') or None


def lock_entries(st, proc_locks=PROC_LOCKS):
    """Entries of ``/proc/locks`` for the file whose ``os.stat`` result is ``st``."""
    try:
        with open(proc_locks) as handle:
            lines = handle.readlines()
    except OSError:
        return []
    device = (os.major(st.st_dev), os.minor(st.st_dev))
    entries = []
    for line in lines:
        entry = _parse_line(line)
        if entry and entry['inode'] == st.st_ino and entry['device'] == device:
            entry['command'] = command_line(entry['pid']) if entry['pid'] > 0 else None
            entries.append(entry)
    return entries


def processes_with_file_open(st, exclude_pid=None):
    """Pids whose open descriptors point at the file of ``st`` (slow: only for error messages).

    A flock lock belongs to an open file description, not to a pid: after
    ``flock(1)`` exits, the child that inherited its descriptor still holds
    the lock while ``/proc/locks`` keeps naming the dead parent.
    """
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == exclude_pid:
            continue
        fd_dir = '/proc/%s/fd' % name
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in descriptors:
            try:
                other = os.stat(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if other.st_ino == st.st_ino and other.st_dev == st.st_dev:
                found.append(int(name))
                break
    return sorted(found)


def _describe_pid(pid):
    return 'pid %d (%s)' % (pid, command_line(pid) or 'command line not readable')


def describe_holders(st, exclude_pid=None):
    """A phrase naming the processes holding (not waiting for) the lock, for error messages."""
    holders = [e for e in lock_entries(st) if not e['waiting'] and e['pid'] != exclude_pid]
    if not holders:
        return 'held by a process this user cannot see (another PID namespace or host)'
    parts = []
    for entry in holders:
        if entry['pid'] <= 0:
            parts.append('a process in another PID namespace')
        elif entry['command'] is not None:
            parts.append(_describe_pid(entry['pid']))
        else:
            openers = [_describe_pid(pid) for pid in processes_with_file_open(st, exclude_pid)]
            parts.append('pid %d, which has exited; the lock lives on in %s that inherited its descriptor'
                         % (entry['pid'], ', '.join(openers) or 'a process this user cannot see'))
    return 'held by %s [%s %s]' % ('; '.join(parts), holders[0]['kind'], holders[0]['mode'])
