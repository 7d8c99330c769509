# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``locked_command``: the module as any module runs, pipelined as plugin_utils.pipelining says."""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.plugin_utils.pipelining import PipelinedModuleAction


class ActionModule(PipelinedModuleAction):
    """Run ``lockstep.handoff.locked_command``."""
