# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that name a data file's marker and state directory by the rules the modules use.

Roles and playbooks that must know those paths before a module runs (to create
the state directory, or to look for markers in one ``find``) ask the same
functions as the modules, instead of rebuilding the rule in Jinja.
"""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    default_marker_path, state_directory)


class FilterModule:
    """``lockstep.handoff.marker_path`` and ``lockstep.handoff.state_directory``."""

    def filters(self):
        return {'marker_path': default_marker_path, 'state_directory': state_directory}
