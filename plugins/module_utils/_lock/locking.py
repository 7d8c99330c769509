# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How a backend takes a lock, whatever its kind (``_lock/kinds.py``).

A backend reads the task's lock options once (``lock_settings``), then takes
locks with them (``acquire``, ``optional_lock``) and gets a HeldLock
(``_lock/base.py``) to confirm before it publishes; it never asks which kind.
"""

from __future__ import annotations

import contextlib

from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kinds import lock_kind


def lock_settings(module):
    """``acquire`` keyword arguments from a module's lock options (see the ``lock`` doc fragment)."""
    lock_type = module.params['lock_type']
    return dict(lock_kind(lock_type).settings(module), timeout=module.params['lock_timeout'], lock_type=lock_type)


def takes_lock_file(lock_type):
    """Whether locks of ``lock_type`` create and open the file ``lock_path`` (else it is only a name)."""
    return lock_kind(lock_type).is_file_backed


def acquire(path, timeout, lock_type='flock', shared=False, holder=None, **settings):
    """Take the lock ``path`` of kind ``lock_type`` within ``timeout`` seconds (0: one attempt); return a HeldLock.

    ``settings`` are what the kind needs (see its ``acquire``). Raises
    LockTimeout naming the holder when the lock stays busy.
    """
    kind = lock_kind(lock_type)
    return kind.acquire(path, timeout, shared=shared, holder=holder, **settings)


@contextlib.contextmanager
def optional_lock(wanted, path, holder=None, **settings):
    """Hold the lock for the block when ``wanted``; yield the HeldLock, or None.

    ``settings`` are ``acquire`` keyword arguments, usually ``lock_settings(module)``.
    """
    if not wanted:
        yield None
        return
    with acquire(path, holder=holder, **settings) as lock:
        yield lock
