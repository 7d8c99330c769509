# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""When the collection pipelines a module run that ansible-core's setting alone would not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible import constants as C
from ansible.plugins.loader import connection_loader

from ansible_collections.lockstep.handoff.plugins.plugin_utils.pipelining import pipelines_by_default

HOST = dict(inventory_hostname='web1', ansible_pipelining=False)  # the task's variables always carry the setting


@pytest.fixture(autouse=True)
def ssh_options():
    """The ssh plugin's option definitions, loaded as a run loads them."""
    connection_loader.get('ssh', class_only=True)


def connection(**changes):
    return SimpleNamespace(**dict(dict(_load_name='ssh', has_pipelining=True, become=None, has_native_async=False),
                                  **changes))


def variables(**host_vars):
    return dict(HOST, hostvars={'web1': host_vars})


@pytest.mark.parametrize('case, conn, module_style, wrap_async, task_vars, pipelined', [
    ('left at the default', connection(), 'new', False, variables(), True),
    ('with become', connection(become=object()), 'new', False, variables(), False),
    ('set among the host variables', connection(), 'new', False, variables(ansible_pipelining=False), False),
    ('set as ansible_ssh_pipelining', connection(), 'new', False, variables(ansible_ssh_pipelining=False), False),
    ('an old-style module', connection(), 'old', False, variables(), False),
    ('async the connection cannot run itself', connection(), 'new', True, variables(), False),
    ('a connection without pipelining', connection(has_pipelining=False), 'new', False, variables(), False),
    ('a connection whose options are unknown', connection(_load_name='nosuch'), 'new', False, variables(), False),
])
def test_pipelined_by_default_only_where_nothing_said_otherwise(case, conn, module_style, wrap_async, task_vars,
                                                                pipelined):
    assert pipelines_by_default(conn, module_style, wrap_async, task_vars) is pipelined, case


def test_set_in_the_environment_is_left_to_the_setting(monkeypatch):
    monkeypatch.setenv('ANSIBLE_PIPELINING', 'False')
    assert pipelines_by_default(connection(), 'new', False, variables()) is False


def test_keeping_the_remote_files_turns_it_off(monkeypatch):
    monkeypatch.setattr(C, 'DEFAULT_KEEP_REMOTE_FILES', True, raising=False)
    assert pipelines_by_default(connection(), 'new', False, variables()) is False
