# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The owner record an exclusive holder writes into its lock file, for people and ``lock_info``.

``/proc/locks`` gives a pid; the record adds the host, the boot, since when and
which module holds it. It is written only while holding the lock exclusively
(nobody else can hold it then) and cleared before release, so a record found
in a free lock file is the trace of a holder that crashed. The file itself is
never deleted.
"""

from __future__ import annotations

import functools
import json
import os
import socket

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import utc_now_rfc3339

MAX_RECORD_BYTES = 4096


@functools.lru_cache(maxsize=None)
def boot_id():
    """This boot's id: a pid is only meaningful within one boot of one host.

    Read once per process (it cannot change while we run): a drain writes an
    owner record for every file it locks.
    """
    try:
        with open('/proc/sys/kernel/random/boot_id') as handle:
            return handle.read().strip()
    except OSError:
        return None


def owner_record(holder):
    """The record for this process holding a lock on behalf of ``holder`` (e.g. a module name)."""
    return {'host': socket.gethostname(), 'pid': os.getpid(), 'boot_id': boot_id(),
            'since': utc_now_rfc3339(), 'holder': holder}


def write_owner_record(fd, record):
    """Replace the lock file's content with ``record``; the caller holds the lock exclusively."""
    data = (json.dumps(record, sort_keys=True) + '\n').encode('utf-8')
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def clear_owner_record(fd):
    """Empty the lock file before releasing it, so no stale record outlives a clean release."""
    os.ftruncate(fd, 0)


def read_owner_record(path):
    """The record in the lock file at ``path``, or None when empty, unreadable or not a record."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, MAX_RECORD_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return parse_owner_record(raw)


def parse_owner_record(raw):
    """``raw`` lock file content as an owner record, or None when it is anything else (data, say)."""
    if len(raw) > MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(raw.decode('utf-8'))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not {'host', 'pid', 'since', 'holder'} <= set(record):
        return None
    return record
