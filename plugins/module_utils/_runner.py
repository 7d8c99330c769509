# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The few lines every module ends with: run the backend, report its result or its error."""

from __future__ import annotations

import gc
import sys

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import check_numbers


def check_module_options(module):
    """Refuse a number option out of its bounds (NUMBER_BOUNDS), once per task, before any backend is built."""
    check_numbers(module.params)


def run_backend(module, backend_class):
    """Check the module's options, run ``backend_class(module).run()`` and exit the module with its result.

    Before exiting, every object is frozen out of the garbage collector's
    reach: at shutdown the interpreter otherwise runs a full collection over
    everything ansible's module_utils imported, which took longer than the
    whole wait (tens of milliseconds, hundreds on a busy host) although the
    process is about to end and frees it all anyway. Under Mitogen the
    interpreter outlives the module and runs the next tasks: there a freeze
    would keep every object of every task alive until the play ends.
    """
    # AnsibleModule would add uid, gid, owner, group, mode, state and size of whatever "path" or "dest" names:
    # undocumented here, and for a directory (a set, a drained inbox) a "size" of 4096 over the module's own.
    module.add_path_info = _as_given
    try:
        check_module_options(module)
        result = backend_class(module).run()
    except HandoffError as exc:
        _freeze_before_exit()
        module.fail_json(msg=exc.msg, **exc.details)
    _freeze_before_exit()
    module.exit_json(**result)


def _freeze_before_exit():
    """``gc.freeze()`` unless the interpreter is Mitogen's, which runs on after the module."""
    if 'mitogen.core' not in sys.modules:
        gc.freeze()


def _as_given(result):
    """The result as the backend made it."""
    return result
