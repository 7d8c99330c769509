# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``lock_info``: who holds a lock, who waits for it, and since when.

``/proc/locks`` matched by device and inode (``_lock_holders``, as ``lslocks``
does) gives pids; the owner record a ``lockstep.handoff`` holder leaves in the
lock file adds which module holds it and since when; the process start time
stands in for ``flock(1)`` and other holders that write no record. The kernel's
view is the truth; the record is only a claim, since whoever may write the lock
file (its group, with the default mode 0664) can rewrite it while the lock is
held: it is attributed to a holder only when ``/proc/locks`` backs it. Looking is
read-only: no lock is taken, not even for an instant, since that alone could
make a waiting ``flock -n`` fail.
"""

from __future__ import annotations

import datetime
import fnmatch
import os
import socket

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import check_absolute
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.holders import (
    PROC_LOCKS, command_line, lock_entries, processes_with_file_open)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.owner import boot_id, read_owner_record

PROC_STAT = '/proc/stat'
_CONSISTENT_LOOKS = 3


def rfc3339(timestamp):
    """``timestamp`` (seconds since the epoch) as RFC 3339 UTC, second precision, like owner records."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def boot_time(proc_stat=PROC_STAT):
    """When this host booted (``btime`` of ``/proc/stat``, seconds since the epoch), or None."""
    try:
        with open(proc_stat) as handle:
            for line in handle:
                if line.startswith('btime '):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_start_time(pid, booted):
    """When ``pid`` started, as RFC 3339 UTC; None when its ``/proc/PID/stat`` cannot be read.

    Field 22 of ``/proc/PID/stat`` counts clock ticks since boot. The command
    name (field 2) may hold spaces and parentheses, so fields are counted from
    after its last ``)``, where field 3 starts.
    """
    if booted is None or pid <= 0:
        return None
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        ticks = int(fields[22 - 3])
    except (OSError, IndexError, ValueError):
        return None
    return rfc3339(booted + ticks / os.sysconf('SC_CLK_TCK'))


def process_exited(pid):
    """Whether ``pid`` no longer exists.

    ``kill(pid, 0)`` answers even for another user's process that ``hidepid``
    hides from ``/proc`` (EPERM: it lives), where a missing ``/proc/PID`` would
    wrongly say it exited.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _record_from_this_boot(record):
    """Whether ``record`` was written on this host since its last boot, so its pid means a pid here."""
    return record.get('host') == socket.gethostname() and record.get('boot_id') == boot_id()


def _owns(record, pid):
    """Whether the owner record ``record`` was written by the process ``pid`` seen in ``/proc/locks``."""
    return record is not None and pid > 0 and record.get('pid') == pid and _record_from_this_boot(record)


def record_is_stale(record, holder_pids):
    """Whether ``record`` is the trace of a holder that crashed (no clean release cleared it).

    A record from another host (a lock file on NFS) is never called stale: that
    host's holders do not show in this host's ``/proc/locks``.
    """
    if record.get('host') != socket.gethostname():
        return False
    return not any(_owns(record, pid) for pid in holder_pids)


def judge_record(record, holder_pids, booted):
    """``(trusted, reason)``: whether the kernel backs the owner record ``record`` of a lock held by ``holder_pids``.

    Trusted only when it was written on this host since its last boot, its pid
    holds the lock according to ``/proc/locks``, and it does not claim the lock
    was taken before that process started. Even then its ``holder`` and
    ``since`` are what was last written into the file.
    """
    pid = record.get('pid')
    if record.get('host') != socket.gethostname():
        return False, ('written on host %r, not on this one: its pid cannot be checked against this host\'s '
                       '/proc/locks (a lock file on NFS)' % (record.get('host'),))
    if record.get('boot_id') != boot_id():
        return False, 'written before this host last booted: its pid names no process of this boot'
    if not any(_owns(record, holder) for holder in holder_pids):
        held = 'held by pid %s' % ', '.join(str(p) for p in holder_pids) if holder_pids else 'not held'
        return False, ('its pid %r does not hold the lock according to /proc/locks (the lock is %s): the trace '
                       'of a holder that crashed, or written by someone else who may write the lock file'
                       % (pid, held))
    started = process_start_time(pid, booted)
    since = record.get('since')
    if not isinstance(since, str) or (started is not None and since < started):
        return False, ('its pid %d holds the lock, but it says the lock was taken at %r, before that process '
                       'started (%s): someone else who may write the lock file rewrote it' % (pid, since, started))
    return True, ('its pid %d holds the lock according to /proc/locks; holder and since are what was last '
                  'written into the lock file, which anyone who may write that file could have changed' % pid)


def _consistent_look(path, st):
    """The owner record and the ``/proc/locks`` entries of one moment.

    The record is read before and after ``/proc/locks`` until both reads agree:
    a holder that releases in between clears its record first, and one that
    takes the lock writes it after, so a clean hand-over is never paired with
    the wrong entries and taken for a crash.
    """
    record = read_owner_record(path)
    entries = lock_entries(st)
    for dummy in range(_CONSISTENT_LOOKS):
        again = read_owner_record(path)
        if again == record:
            break
        record = again
        entries = lock_entries(st)
    return record, entries


def _inheritors(st, waiter_pids):
    """Processes with the lock file open that may hold the lock through a descriptor they share.

    A flock lock belongs to an open file description: after ``flock(1)`` exits,
    the child that inherited its descriptor holds the lock while ``/proc/locks``
    still names the dead parent; an OFD lock shows no pid at all. Waiters have
    the file open too and are left out.
    """
    found = processes_with_file_open(st, exclude_pid=os.getpid())
    return [{'pid': pid, 'command': command_line(pid)} for pid in found if pid not in waiter_pids]


def _process(entry, booted, record):
    """One holder or waiter: the ``/proc/locks`` entry with since when and, for its owner, the trusted record."""
    pid = entry['pid']
    owned = _owns(record, pid)
    since = record.get('since') if owned else process_start_time(pid, booted)
    return {
        'pid': pid,
        'command': entry['command'],
        'kind': entry['kind'],
        'mode': entry['mode'],
        'since': since,
        'since_from': ('owner_record' if owned else 'process_start') if since is not None else None,
        'holder': record.get('holder') if owned else None,
        'host': record.get('host') if owned else None,
        'boot_id': record.get('boot_id') if owned else None,
        'exited': process_exited(pid),
        'inherited_by': [],
    }


def missing_lock(path):
    """The report of a lock path that does not exist: nothing can hold it."""
    return {'path': path, 'exists': False, 'held': False, 'holders': [], 'waiters': [], 'owner_record': None}


def lock_report(path):
    """Who holds and who waits for the lock at ``path`` (symlinks followed, as ``flock(1)`` does)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return missing_lock(path)
    except OSError as exc:
        raise HandoffError('cannot inspect lock %s: %s; run as a user who may read its directory (become)'
                           % (path, exc.strerror), path=path)
    record, entries = _consistent_look(path, st)
    booted = boot_time()
    holder_pids = [e['pid'] for e in entries if not e['waiting']]
    trusted, reason = judge_record(record, holder_pids, booted) if record is not None else (False, None)
    holders = [_process(e, booted, record if trusted else None) for e in entries if not e['waiting']]
    waiters = [_process(e, booted, None) for e in entries if e['waiting']]
    waiter_pids = {w['pid'] for w in waiters}
    for holder in holders:
        if holder['exited'] or holder['pid'] <= 0:
            holder['inherited_by'] = _inheritors(st, waiter_pids)
    if record is not None:
        record = dict(record, stale=record_is_stale(record, holder_pids), trusted=trusted, trust_reason=reason)
    return {'path': path, 'exists': True, 'held': bool(holders), 'holders': sorted(holders, key=_by_pid),
            'waiters': sorted(waiters, key=_by_pid), 'owner_record': record}


def _by_pid(process):
    return process['pid']


def matching_paths(directory, patterns):
    """Paths of the entries of ``directory`` whose names match any of the shell ``patterns``, sorted."""
    try:
        names = os.listdir(directory)
    except OSError as exc:
        raise HandoffError('cannot list directory %s: %s; run as a user who may read it (become)'
                           % (directory, exc.strerror), path=directory)
    return [os.path.join(directory, name) for name in sorted(names)
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]


class LockInfo:
    """One ``lock_info`` task on one host."""

    def __init__(self, module):
        self.module = module
        self.path = module.params['path']
        self.patterns = module.params['patterns']
        check_absolute('path', self.path)

    def _lock_paths(self):
        """``path`` itself (a file or a directory: both can be locked), or its entries that match ``patterns``."""
        if not self.patterns or not os.path.lexists(self.path):
            return [self.path]
        if not os.path.isdir(self.path):
            raise HandoffError('patterns were given, but path %s is not a directory; give the directory that '
                               'holds the lock files, or leave out patterns to report %s itself'
                               % (self.path, self.path), path=self.path)
        return matching_paths(self.path, self.patterns)

    def run(self):
        """Report every lock; warn when ``/proc/locks`` is hidden, since then no holder can be seen."""
        if not os.access(PROC_LOCKS, os.R_OK):
            self.module.warn('%s cannot be read here, so no holder or waiter can be seen: every lock is '
                             'reported as free' % PROC_LOCKS)
        locks = [lock_report(p) for p in self._lock_paths()]
        for lock in locks:
            record = lock['owner_record']
            if lock['held'] and record is not None and not record['trusted']:
                self.module.warn('the owner record in lock %s is not trusted: %s. The holders listed come from '
                                 '/proc/locks; the record names holder %r, which may be false'
                                 % (lock['path'], record['trust_reason'], record.get('holder')))
        return dict(changed=False, locks=locks)
