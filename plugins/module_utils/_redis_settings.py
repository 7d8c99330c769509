# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis server and key prefix a task uses, from its ``redis_*`` options (the ``redis`` doc fragment)."""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._checks import check_number
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._resp import RedisServer


def redis_server(params, wanted_by):
    """The RedisServer the options name; ``wanted_by`` (e.g. ``lock_type=redis``) says why one is needed.

    There is no default host: a Redis on each target's own loopback would
    coordinate nobody, which is the failure this backend exists to prevent.
    """
    if not params['redis_host']:
        raise HandoffError('%s needs redis_host (or LOCKSTEP_REDIS_HOST where the module runs): the Redis server '
                           'that every host taking part can reach' % wanted_by)
    check_number('redis_timeout', params['redis_timeout'])
    return RedisServer(params['redis_host'], params['redis_port'], params['redis_db'], params['redis_username'],
                       params['redis_password'], params['redis_tls'], params['redis_tls_ca_path'],
                       params['redis_timeout'])


class RedisLockSettings:
    """What a lease needs besides its name: the server, the key prefix, the lease TTL in seconds."""

    def __init__(self, server, prefix, ttl):
        self.server = server
        self.prefix = prefix
        self.ttl = ttl


def redis_lock_settings(params):
    """RedisLockSettings from a locking module's options."""
    return RedisLockSettings(redis_server(params, 'lock_type=redis'), params['redis_key_prefix'],
                             params['lock_lease_ttl'])
