# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures that give tests real SSH hosts and run the real ansible CLIs against them."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial

import pytest

from tests.support.ansible_run import COLLECTIONS_PATH
from tests.support.fleet_runs import kill_leftover_runs

from .harness import (TINY_DISK_SIZE, Fleet, HostSpec, run_ansible,
                      run_playbook, unavailable_reason)

SESSION_HOSTS = (HostSpec("h1"), HostSpec("h2"), HostSpec("h3"),
                 HostSpec("h4", disk_size=TINY_DISK_SIZE), HostSpec("h5", readonly=True))


@pytest.fixture(scope="session")
def fleet_machine() -> None:
    """Skip when this machine cannot run a fleet, but fail in CI, where a skip hides a gap."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: fleet tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fleet(fleet_machine):
    """h1..h3 normal, h4 with a tiny disk (ENOSPC), h5 read-only; shared by the session."""
    with Fleet.start(SESSION_HOSTS) as started:
        yield started


@pytest.fixture
def start_fleet(fleet_machine):
    """Start a private fleet, for tests that break hosts; every one is stopped afterwards."""
    started = []

    def start(hosts, **kwargs) -> Fleet:
        started.append(Fleet.start(hosts, **kwargs))
        return started[-1]

    yield start
    for each in started:
        each.stop()


@pytest.fixture
def ansible_cli(fleet):
    """``ansible_cli("all", "-m", "ping", env={...})``: the ``ansible`` on PATH vs the fleet."""
    return partial(run_ansible, fleet)


@pytest.fixture
def ansible_playbook(fleet):
    """``ansible_playbook(path_or_yaml, *args, extra_vars={...}, env={...})`` -> PlaybookRun."""
    if not (COLLECTIONS_PATH / "ansible_collections/lockstep/handoff").exists():
        pytest.fail(f"collection not linked under {COLLECTIONS_PATH}; run scripts/bootstrap")
    return partial(run_playbook, fleet)


@pytest.fixture
def ansible_adhoc(request, fleet):
    """pytest-ansible's ``ansible_adhoc``, bound to the session fleet's inventory (made at run time, so not
    given with ``--inventory``); ``ansible_module`` builds on it, for the hosts of ``@pytest.mark.ansible``
    (``host_pattern``). See tests/README.md for which controllers run them."""
    plugin = request.config.pluginmanager.getplugin("ansible")
    return partial(plugin.initialize, request.config, request, inventory=str(fleet.inventory))


@pytest.fixture(autouse=True)
def no_run_outlives_its_test():
    """A test that fails while ansible-playbook runs in the background kills that run at teardown."""
    yield
    kill_leftover_runs()


@pytest.fixture
def shared_dir():
    """A directory of the machine (not of one host's /srv/handoff) that every host's login user can write."""
    path = tempfile.mkdtemp(prefix="fleet-shared-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
