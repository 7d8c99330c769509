# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few lines every module ends with: run the backend, report its result or its error."""

from __future__ import annotations

import gc

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


def run_backend(module, backend_class):
    """Run ``backend_class(module).run()`` and exit the module with its result.

    Before exiting, every object is frozen out of the garbage collector's
    reach: at shutdown the interpreter otherwise runs a full collection over
    everything ansible's module_utils imported, which took longer than the
    whole wait (tens of milliseconds, hundreds on a busy host) although the
    process is about to end and frees it all anyway.
    """
    try:
        result = backend_class(module).run()
    except HandoffError as exc:
        gc.freeze()
        module.fail_json(msg=exc.msg, **exc.details)
    gc.freeze()
    module.exit_json(**result)
