# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module arguments of one atomic_upload phase, as the action plugin sends them, for tests that run the module.

Tests name request fields with a leading underscore beside the user's options
(``_sha256=..., dest=...``); ``upload_module_args`` moves them into the one
``_request`` option, built by the same ``build_request`` the action plugin
uses, and fills fields a test does not care about with what a plain run sends.
"""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    FILES_PHASES, REQUEST_FIELDS, REQUEST_OPTION, build_request)

PLAIN_RUN = dict(producer='test', host=None, direct=False, max_diff_size=104448, reason='')


def upload_module_args(phase, **options):
    """``options`` with every ``_field`` moved into a ``_request`` for ``phase`` (``_set`` appended for ``_files``,
    unless ``phase`` is already one of a list of files, such as ``probe_files``)."""
    fields = {name[1:]: options.pop(name) for name in list(options) if name.startswith('_')}
    if 'files' in fields and phase not in FILES_PHASES:
        phase += '_set'
    for name, value in PLAIN_RUN.items():
        if name in REQUEST_FIELDS[phase]:
            fields.setdefault(name, value)
    options[REQUEST_OPTION] = build_request(phase, **fields)
    return options
