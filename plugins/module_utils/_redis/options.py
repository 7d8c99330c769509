# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``redis_*`` options (the ``redis`` doc fragment), apart from the client.

A module declares them whether or not a task uses Redis; reading them must
not load the Redis client, which only ``_redis/settings.py`` does.
"""

from __future__ import annotations

from ansible.module_utils.common.parameters import env_fallback

REDIS_ENV = 'LOCKSTEP_REDIS_'


def redis_argument_spec():
    """How to reach Redis; each option falls back to ``LOCKSTEP_REDIS_<NAME>`` where the module runs."""
    spec = dict(
        redis_host=dict(type='str'),
        redis_port=dict(type='int', default=6379),
        redis_db=dict(type='int', default=0),
        redis_username=dict(type='str'),
        redis_password=dict(type='str', no_log=True),
        redis_password_file=dict(type='path', no_log=False),
        redis_tls=dict(type='bool', default=False),
        redis_tls_ca_path=dict(type='path'),
        redis_key_prefix=dict(type='str', default='lockstep:handoff:', no_log=False),
        redis_timeout=dict(type='float', default=5.0),
    )
    for option, settings in spec.items():
        settings['fallback'] = (env_fallback, [REDIS_ENV + option[len('redis_'):].upper()])
    return spec
