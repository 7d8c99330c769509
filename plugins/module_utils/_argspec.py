# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the modules, composed from shared pieces.

The action plugin validates with the same spec on the controller, so a bad
option fails before anything is sent to a host.
"""

from __future__ import annotations

import os

from ansible.module_utils.common.parameters import env_fallback

from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import LOCK_TYPES


def lock_options():
    """Options every locking module shares (documented in the ``lock`` doc fragment)."""
    return dict(
        lock_path=dict(type='path'),
        lock_type=dict(type='str', choices=list(LOCK_TYPES), default='flock', aliases=['lock_backend']),
        lock_timeout=dict(type='float', default=30.0),
        lock_mode=dict(type='str', default='0664'),
        lock_on_network_fs=dict(type='str', choices=['fail', 'warn'], default='fail'),
        lock_lease_ttl=dict(type='float', default=30.0),
    )


REDIS_ENV = 'LOCKSTEP_REDIS_'


def redis_options():
    """How to reach Redis (documented in the ``redis`` doc fragment); each falls back to ``LOCKSTEP_REDIS_<NAME>``."""
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


def locking_options():
    """``lock_options`` and ``redis_options``: what every module that takes a lock accepts."""
    spec = lock_options()
    spec.update(redis_options())
    return spec


def marker_check_options():
    """How a consumer judges a marker (documented in the ``marker_check`` doc fragment)."""
    return dict(
        marker_path=dict(type='path'),
        verify_checksum=dict(type='bool', default=True),
        require_checksum=dict(type='bool', default=False),
    )


FAILURE_MARKER_POLICIES = ('unless_complete', 'always', 'never')
TRANSFER_COMPRESSION = ('auto', 'off', 'connection')


def upload_options():
    """Public options of ``atomic_upload``."""
    spec = dict(
        src=dict(type='raw'),
        content=dict(type='str'),
        decrypt=dict(type='bool', default=True),
        dest=dict(type='path', required=True),
        marker=dict(type='bool', default=True),
        marker_path=dict(type='path'),
        force=dict(type='bool', default=True),
        backup=dict(type='bool', default=False),
        validate=dict(type='str'),
        failure_marker=dict(type='str', choices=list(FAILURE_MARKER_POLICIES), default='unless_complete'),
        remove_temps_older_than=dict(type='float'),
        transfer_compression=dict(type='str', choices=list(TRANSFER_COMPRESSION), default='auto'),
        lock=dict(type='bool', default=False),
        redis_state=dict(type='bool', default=False),
    )
    spec.update(locking_options())
    return spec


def check_src(value):
    """``src`` as one path, a list of paths, or None; raise ValueError saying what is wrong.

    The option's type is ``raw`` so that a list passes the spec; this keeps one
    clear error for anything else, and expands each path as ``type=path`` does.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError('src is an empty list; list at least one file, or give one path')
        return [_checked_path(item, 'src item %d' % number) for number, item in enumerate(value, 1)]
    return _checked_path(value, 'src')


def _checked_path(value, what):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError('%s must be a path (a string); got %s: %r. src takes one path, or a list of file paths'
                         % (what, _kind(value), value))
    if not str(value):
        raise ValueError('%s is an empty string; give the path of a file on the controller' % what)
    return os.path.expanduser(os.path.expandvars(str(value)))


def _kind(value):
    """The YAML name of a value's type, not Python's (2.19 tags values with private subclasses)."""
    for kind, types in (('a boolean', bool), ('a mapping', dict), ('a list', (list, tuple)), ('null', type(None))):
        if isinstance(value, types):
            return kind
    return 'a ' + type(value).__name__


UPLOAD_RULES = dict(
    mutually_exclusive=[('src', 'content')],
    required_one_of=[('src', 'content')],
)

UPLOAD_PHASES = ('probe', 'publish', 'abort')


def upload_module_options():
    """``upload_options`` plus the hidden options the action plugin sets."""
    spec = upload_options()
    spec.update(
        _phase=dict(type='str', choices=list(UPLOAD_PHASES), required=True),
        _sha256=dict(type='str'),
        _size=dict(type='int'),
        _staged_path=dict(type='path'),
        _direct=dict(type='bool', default=False),
        _producer=dict(type='str'),
        _max_diff_size=dict(type='int', default=104448),
        _reason=dict(type='str'),
        _files=dict(type='list', elements='dict'),
        _changed=dict(type='list', elements='str'),
        _host=dict(type='str'),
    )
    return spec


def wait_options():
    """Options of ``wait_for_marker``."""
    spec = dict(
        path=dict(type='path', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        timeout=dict(type='float', default=300.0),
        sleep=dict(type='float', default=1.0),
        newer_than_generation=dict(type='int'),
        stable_for=dict(type='float'),
        min_age=dict(type='float'),
        redis_state_host=dict(type='str'),
    )
    spec.update(marker_check_options())
    spec.update(redis_options())
    return spec


MARKER_ACTIONS = ('remove', 'move', 'keep')


def move_options():
    """Options of ``locked_move``."""
    spec = dict(
        src=dict(type='path', required=True),
        dest=dict(type='path', required=True),
        require_marker=dict(type='bool', default=True),
        marker=dict(type='str', choices=list(MARKER_ACTIONS), default='remove'),
        dest_marker_path=dict(type='path'),
        force=dict(type='bool', default=True),
        backup=dict(type='bool', default=False),
        create_parents=dict(type='bool', default=False),
        patterns=dict(type='list', elements='str', default=['*']),
    )
    spec.update(marker_check_options())
    spec.update(locking_options())
    return spec


def lock_info_options():
    """Options of ``lock_info``."""
    return dict(
        path=dict(type='path', required=True),
        patterns=dict(type='list', elements='str'),
    )


def command_options():
    """Options of ``locked_command``; unlike the other modules it has no file to derive a lock path from."""
    spec = dict(
        cmd=dict(type='str'),
        argv=dict(type='list', elements='str'),
        chdir=dict(type='path'),
        creates=dict(type='path'),
        removes=dict(type='path'),
        stdin=dict(type='str'),
        lock_shared=dict(type='bool', default=False),
    )
    spec.update(locking_options())
    spec['lock_path'] = dict(type='path', required=True)
    return spec


COMMAND_RULES = dict(
    mutually_exclusive=[('cmd', 'argv')],
    required_one_of=[('cmd', 'argv')],
)
