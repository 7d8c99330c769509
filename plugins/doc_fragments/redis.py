# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the options that say how to reach Redis (locks and hand-off state shared by many hosts)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  redis_host:
    description:
      - The Redis server every host taking part can reach, by name or address.
      - Needed only with C(lock_type=redis) or the Redis hand-off state; there is no default, since a Redis on each
        host's own loopback would coordinate nobody.
      - Like every C(redis_*) option it falls back to an environment variable where the module runs
        (C(LOCKSTEP_REDIS_HOST), ...), which a play sets for all its tasks with the C(environment) keyword; or set
        the options once with C(module_defaults) for C(group/lockstep.handoff.handoff) (every module that takes
        them).
      - The connection speaks RESP over TCP from the module itself (standard library only), one single server or a
        primary - not Redis Cluster.
      - A host name or address only. A URL or a C(user:password@host) is refused (its credentials redacted in the
        message), since the host appears in messages and results; give the password with O(redis_password_file)
        or O(redis_password).
    type: str
  redis_port:
    description:
      - The server's TCP port. Falls back to C(LOCKSTEP_REDIS_PORT).
    type: int
    default: 6379
  redis_db:
    description:
      - The database number to SELECT. Falls back to C(LOCKSTEP_REDIS_DB).
    type: int
    default: 0
  redis_username:
    description:
      - The ACL user to log in as (Redis 6 or later); without it, O(redis_password) is the C(requirepass) of the
        default user. Falls back to C(LOCKSTEP_REDIS_USERNAME).
    type: str
  redis_password:
    description:
      - The password to AUTH with; never logged. Falls back to C(LOCKSTEP_REDIS_PASSWORD).
      - Feed it from Ansible Vault as a module option (or with C(module_defaults)), not through the play's
        C(environment) keyword - an environment variable is set on the command line that starts the module, where
        the target's process list and C(-vvv) output show it.
      - A wrong or missing password fails the task with a message naming the server.
      - Mutually exclusive with O(redis_password_file).
    type: str
  redis_password_file:
    description:
      - A file on the host where the module runs holding the password on one line (a trailing newline is
        dropped); the module reads it itself, so the password is never in the task's arguments, the process list
        or any output. Falls back to C(LOCKSTEP_REDIS_PASSWORD_FILE).
      - It must be a regular file, not a symlink, that its group and others may not access (mode C(0600) or
        C(0400)); otherwise the task fails saying so. The user the module runs as (after become) must read it.
      - Mutually exclusive with O(redis_password).
    type: path
  redis_tls:
    description:
      - Connect with TLS, verifying the server's certificate and host name. Falls back to C(LOCKSTEP_REDIS_TLS).
    type: bool
    default: false
  redis_tls_ca_path:
    description:
      - A PEM file of the CA certificates to trust for O(redis_tls), instead of the system's.
        Falls back to C(LOCKSTEP_REDIS_TLS_CA_PATH).
    type: path
  redis_key_prefix:
    description:
      - Prepended to every key this collection writes, so that several teams or environments can share one server.
        Every party to a lock or a hand-off must use the same prefix. Falls back to C(LOCKSTEP_REDIS_KEY_PREFIX).
    type: str
    default: 'lockstep:handoff:'
  redis_timeout:
    description:
      - Seconds to wait for a connection or for one reply, more than 0 and at most 3600. Falls back to
        C(LOCKSTEP_REDIS_TIMEOUT).
    type: float
    default: 5
'''
