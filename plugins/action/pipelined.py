# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of the modules without an action plugin of their own (meta/runtime.yml routes them here).

The module runs as any module does (``ansible.builtin.normal``: check mode,
async, module_defaults), pipelined where ``plugin_utils.pipelining`` says so.
"""

from __future__ import annotations

from ansible.plugins.action.normal import ActionModule as NormalActionModule

from ansible_collections.lockstep.handoff.plugins.plugin_utils.pipelining import PipelinedByDefault


class ActionModule(PipelinedByDefault, NormalActionModule):
    """Run the task's module, pipelined without become unless pipelining was turned off."""
