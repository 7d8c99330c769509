# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of ``atomic_upload``, which both halves of it read.

Unlike the other modules, whose options live in their module file, these are
read by the action plugin too: it validates a task with this spec on the
controller, so a bad option fails before anything is sent to a host, and it
cannot import the module file. The module adds the options only the action
plugin sets. This file loads no backend, only the lock kinds' options and the
protocol's names.
"""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kinds import lock_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import state_dir_argument_spec

FAILURE_MARKER_POLICIES = ('unless_complete', 'always', 'never')
TRANSFER_COMPRESSION = ('auto', 'off', 'connection')


def upload_argument_spec():
    """The options a task may give ``atomic_upload`` (its DOCUMENTATION, less the action plugin's own)."""
    spec = dict(
        src=dict(type='raw'),
        content=dict(type='str'),
        decrypt=dict(type='bool', default=True),
        dest=dict(type='path'),
        files=dict(type='list', elements='dict', options=file_item_spec(),
                   mutually_exclusive=[('src', 'content')], required_one_of=[('src', 'content')]),
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
        create_parents=dict(type='bool', default=False),
        directory_mode=dict(type='raw'),
    )
    spec.update(state_dir_argument_spec())
    spec.update(lock_argument_spec())
    return spec


def file_item_spec():
    """One item of ``files``: its data and the options that differ from file to file."""
    return dict(
        src=dict(type='path'),
        content=dict(type='str'),
        dest=dict(type='path', required=True),
        mode=dict(type='raw'),
        owner=dict(type='str'),
        group=dict(type='str'),
        marker_path=dict(type='path'),
        lock_path=dict(type='path'),
    )


UPLOAD_RULES = dict(
    mutually_exclusive=[('src', 'content', 'files'), ('dest', 'files'), ('marker_path', 'files'), ('lock_path', 'files')],
    required_one_of=[('src', 'content', 'files'), ('dest', 'files')],
)


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
