# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lock kinds a task may choose (``lock_type``), their options, and the one place that picks one.

Adding a kind means a LockKind (``_lock/base.py``) in a file of its own,
its name here, and its options in ``lock_argument_spec``. A kind's file is
imported only when a task chooses it: a file lock never loads the Redis
client, and the controller, which reads the options only, loads no kind.
"""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.options import redis_argument_spec

LOCK_TYPES = ('flock', 'fcntl', 'redis')


def lock_argument_spec():
    """Options of every module that takes a lock (the ``lock`` and ``redis`` doc fragments)."""
    spec = dict(
        lock_path=dict(type='path'),
        lock_type=dict(type='str', choices=list(LOCK_TYPES), default='flock', aliases=['lock_backend']),
        lock_timeout=dict(type='float', default=30.0),
        lock_mode=dict(type='str', default='0664'),
        lock_on_network_fs=dict(type='str', choices=['fail', 'warn'], default='fail'),
        lock_lease_ttl=dict(type='float', default=30.0),
    )
    spec.update(redis_argument_spec())
    return spec


def lock_kind(lock_type):
    """The LockKind called ``lock_type``; a HandoffError for a name that is not one of LOCK_TYPES."""
    if lock_type not in LOCK_TYPES:
        raise HandoffError('lock_type %r is not one of %s' % (lock_type, ', '.join(LOCK_TYPES)))
    if lock_type == 'redis':
        from ansible_collections.lockstep.handoff.plugins.module_utils._lock.redis import RedisLeaseKind
        return RedisLeaseKind()
    from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kernel import KernelLockKind
    return KernelLockKind(lock_type)
