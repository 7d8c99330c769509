# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few lines every module ends with: run the backend, report its result or its error."""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


def run_backend(module, backend_class):
    """Run ``backend_class(module).run()`` and exit the module with its result."""
    try:
        result = backend_class(module).run()
    except HandoffError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)
