# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the role tests: two ordinary fleet hosts and a fresh directory on each.

The session fleet of tests/fleet has a tiny-disk and a read-only host for fault tests;
roles are tested where every host can succeed, so these tests start their own.
"""

from __future__ import annotations

import uuid
from functools import partial

import pytest

from tests.fleet import conftest as fleet_fixtures
from tests.fleet.harness import DATA_DIR, Fleet, HostSpec, run_playbook
from tests.support.ansible_run import COLLECTIONS_PATH

ROLE_HOSTS = (HostSpec("r1"), HostSpec("r2"))


# tests/fleet's fixture, made visible to this directory: skip (or, in CI, fail) without root.
fleet_machine = fleet_fixtures.fleet_machine


@pytest.fixture(scope="session")
def role_fleet(fleet_machine):
    """r1 and r2, each with its own /srv/handoff, shared by every role test.

    Two hosts show that a role acts on every host of the play; a third would only add
    minutes on a two-core machine.
    """
    if not (COLLECTIONS_PATH / "ansible_collections/lockstep/handoff").exists():
        pytest.fail(f"collection not linked under {COLLECTIONS_PATH}; run scripts/bootstrap")
    with Fleet.start(ROLE_HOSTS) as started:
        yield started


@pytest.fixture
def workspace(role_fleet):
    """A directory under /srv/handoff that no other test uses; removed from every host afterwards."""
    path = f"{DATA_DIR}/{uuid.uuid4().hex[:10]}"
    yield path
    for host in role_fleet.hosts.values():
        host.run(f"rm -rf {path}", check=False)


@pytest.fixture(scope="session")
def play(role_fleet):
    """``play(playbook_path_or_yaml, *args, extra_vars={...})`` -> PlaybookRun against r1 and r2.

    Pipelining halves the ssh round trips of a run; the module tests cover both settings.
    """
    return partial(run_playbook, role_fleet, env={"ANSIBLE_PIPELINING": "True"})


AGENT_PLAY = """
- name: Install handoff.sh
  hosts: all
  gather_facts: false
  roles:
    - role: lockstep.handoff.agent
"""


@pytest.fixture(scope="session")
def agent_lib(play):
    """handoff.sh installed once by the agent role on r1 and r2; its path there."""
    lib_dir = f"{DATA_DIR}/agent-lib"
    run = play(AGENT_PLAY, extra_vars={"handoff_agent_lib_dir": lib_dir})
    assert run.returncode == 0, run.stdout + run.stderr
    return f"{lib_dir}/handoff.sh"
