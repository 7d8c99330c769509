# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
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


def describe_holders(st, exclude_pid=None):
    """A phrase naming the processes holding (not waiting for) the lock, for error messages."""
    holders = [e for e in lock_entries(st) if not e['waiting'] and e['pid'] != exclude_pid]
    if not holders:
        return 'held by a process this user cannot see (another PID namespace or host)'
    parts = []
    for entry in holders:
        if entry['pid'] > 0:
            parts.append('pid %d (%s)' % (entry['pid'], entry['command'] or 'command line not readable'))
        else:
            parts.append('a process in another PID namespace')
    return 'held by %s [%s %s]' % (', '.join(parts), holders[0]['kind'], holders[0]['mode'])
