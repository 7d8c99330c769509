# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's modules pipelined where nothing can refuse it, unless pipelining was turned off.

Pipelining sends a module on the stdin of one ssh command instead of making a
remote temp directory, copying the module there, running it and removing the
directory: one round trip per module run instead of three or four. ansible-core
leaves it off by default only because sudo's ``requiretty`` refuses a
pipelined become. Without become nothing can refuse it, so the collection
pipelines its own module runs then - unless ``pipelining`` was set anywhere
(configuration, environment, inventory variable), in which case that setting
applies as for any module, as it does with become.
"""

from __future__ import annotations

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action.normal import ActionModule as NormalActionModule


def pipelines_by_default(connection, module_style, wrap_async, variables):
    """Whether a module run is pipelined although the connection's ``pipelining`` is off: a new-style module, no
    become, a connection that pipelines, no async wrapper it cannot run natively, nobody asking to keep the remote
    files, and ``pipelining`` left at ansible-core's default."""
    return (module_style == 'new' and connection.has_pipelining and connection.become is None
            and (not wrap_async or connection.has_native_async)
            and not getattr(C, 'DEFAULT_KEEP_REMOTE_FILES', False)
            and _left_at_default(connection, variables))


def _left_at_default(connection, variables):
    """Whether the connection's ``pipelining`` is ansible-core's default: set by no configuration file or environment
    variable, and by none of its variables (``ansible_pipelining``...) among the host's variables. Those are read
    from ``hostvars``: the task's own variables always hold ``ansible_pipelining``, filled in from the setting. An
    origin that cannot be told counts as set."""
    try:
        name = connection._load_name
        dummy, origin = C.config.get_config_value_and_origin(
            'pipelining', plugin_type='connection', plugin_name=name, variables={})
        definition = C.config.get_configuration_definition('pipelining', plugin_type='connection', plugin_name=name)
    except AnsibleError:
        return False
    variables = variables or {}
    host_vars = variables.get('hostvars', {}).get(variables.get('inventory_hostname'), {})
    return origin == 'default' and not any(entry['name'] in host_vars for entry in definition.get('vars', ()))


class PipelinedByDefault:
    """Mixin for an action plugin: its module runs are pipelined where ``pipelines_by_default`` says so."""

    _variables = None

    def run(self, tmp=None, task_vars=None):
        self._variables = task_vars
        return super().run(tmp, task_vars)

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        return (super()._is_pipelining_enabled(module_style, wrap_async)
                or pipelines_by_default(self._connection, module_style, wrap_async, self._variables))


class PipelinedModuleAction(PipelinedByDefault, NormalActionModule):
    """The action of a module without one of its own: it runs as any module does (``ansible.builtin.normal``: check
    mode, async, module_defaults), pipelined where ``pipelines_by_default`` says so."""
