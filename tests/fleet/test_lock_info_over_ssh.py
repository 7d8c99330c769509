# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""lock_info over ssh on fleet hosts, called through pytest-ansible's fixtures.

A module that only reads is clearest as a function call returning each host's result: no playbook
text, no output to parse. ``ansible_module`` runs on the hosts of ``@pytest.mark.ansible``;
``ansible_adhoc`` runs on any pattern of the fleet inventory (tests/fleet/conftest.py binds both to
it). tests/README.md says which controllers these fixtures work on.
"""

from __future__ import annotations

import time

import pytest

from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR


def hold_with_flock(host, path, seconds):
    """flock(1) holding ``path`` on ``host`` in the background; returns its pid once it holds it."""
    pid = int(host.run(f"flock {path} sleep {seconds} >/dev/null 2>&1 & echo $!").stdout)
    deadline = time.monotonic() + 30
    while host.run(f"flock -n {path} true", check=False).returncode == 0:
        assert time.monotonic() < deadline, "flock(1) on the host never took the lock"
        time.sleep(0.05)
    return pid


def lock_info(dispatcher, **args):
    """``lockstep.handoff.lock_info`` through a pytest-ansible dispatcher (an FQCN is no Python name)."""
    return getattr(dispatcher, "lockstep.handoff.lock_info")(**args)


@pytest.mark.fleet
@pytest.mark.ansible(host_pattern="h1")
def test_ansible_module_sees_a_flock_holder(fleet, ansible_module):
    host = fleet.hosts["h1"]
    with scratch_dir([host], DATA_DIR, "lockinfo") as root:
        holder = hold_with_flock(host, f"{root}/job.lock", 30)
        try:
            result = lock_info(ansible_module, path=f"{root}/job.lock")["h1"]
        finally:
            host.run(f"kill {holder}", check=False)
    assert result["changed"] is False and not result.get("failed"), result
    (lock,) = result["locks"]
    assert lock["held"] is True, lock
    (seen,) = lock["holders"]
    assert seen["pid"] == holder and seen["kind"] == "FLOCK", seen
    assert seen["command"].startswith(f"flock {root}/job.lock"), seen


@pytest.mark.fleet
def test_ansible_adhoc_reports_each_host_on_its_own(fleet, ansible_adhoc):
    hosts = [fleet.hosts["h1"], fleet.hosts["h2"]]
    with scratch_dir(hosts, DATA_DIR, "lockinfo") as root:
        holder = hold_with_flock(hosts[0], f"{root}/job.lock", 30)
        hosts[1].run(f"touch {root}/job.lock")
        try:
            results = lock_info(ansible_adhoc()["h1:h2"], path=f"{root}/job.lock")
        finally:
            hosts[0].run(f"kill {holder}", check=False)
    assert results["h1"]["locks"][0]["held"] is True, results["h1"]
    assert results["h2"]["locks"][0]["held"] is False and results["h2"]["locks"][0]["holders"] == [], results["h2"]
