# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollback on real hosts: promote keeps the replaced versions, lockstep.handoff.rollback puts the newest back,
exactly once, also when a rollback is SIGKILLed half-way."""

from __future__ import annotations

import os
import signal

from tests.support.fleet_runs import PATIENCE, host_processes, start_playbook, wait_for
from tests.support.processes import kill_tree

from .test_promote import listing

HOSTS = ("r1", "r2")
NAMES = ("a.txt", "b.txt")


def payload(name, version):
    return f"{name} {version}\n".encode()


def rollout(play, workspace, version):
    """Deliver ``version`` of a.txt and b.txt and promote it, keeping two replaced versions."""
    delivered = play("lockstep.handoff.deliver", extra_vars={
        "handoff_deliver_files": [{"content": payload(name, version).decode(), "dest": f"{workspace}/inbox/{name}"}
                                  for name in NAMES],
        "handoff_deliver_state_dir": ".handoff",
    })
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    promoted = play("lockstep.handoff.promote", extra_vars=rollout_vars(workspace))
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr


def rollout_vars(workspace):
    return {
        "handoff_promote_files": [{"src": f"{workspace}/inbox/{name}", "dest": f"{workspace}/ready/{name}"}
                                  for name in NAMES],
        "handoff_promote_state_dir": ".handoff",
        "handoff_promote_timeout": 30,
        "handoff_promote_keep_previous": 2,
        "handoff_promote_notify_command": f"touch {workspace}/notified",
    }


def versions(host, workspace, name):
    """What ``name`` holds, then its kept versions newest first."""
    ready = f"{workspace}/ready"
    kept = sorted(entry for entry in listing(host, ready) if entry.startswith(f".{name}.prev-"))
    return [host.read_bytes(f"{ready}/{entry}") for entry in [name, *kept]]


def test_rollback_restores_the_previous_version_once(role_fleet, play, workspace):
    for version in ("v1", "v2", "v3"):
        rollout(play, workspace, version)
    for host in role_fleet.hosts.values():
        assert versions(host, workspace, "a.txt") == [payload("a.txt", v) for v in ("v3", "v2", "v1")]
        host.run(f"rm -f {workspace}/notified")

    checked = play("lockstep.handoff.rollback", "--check", extra_vars=rollout_vars(workspace))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(checked.recap[h]["changed"] == 1 for h in HOSTS), checked.stdout
    assert versions(role_fleet.hosts["r1"], workspace, "a.txt")[0] == payload("a.txt", "v3"), "check mode rolled back"

    rolled = play("lockstep.handoff.rollback", extra_vars=rollout_vars(workspace))
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert rolled.stdout.count('"restored": 2,') == 2, rolled.stdout
    for host in role_fleet.hosts.values():
        for name in NAMES:
            assert versions(host, workspace, name) == [payload(name, "v2"), payload(name, "v1")]
        assert host.exists(f"{workspace}/notified"), "the handler did not run after a rollback"
        host.run(f"rm {workspace}/notified")

    again = play("lockstep.handoff.rollback", extra_vars=rollout_vars(workspace))
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(again.recap[h]["changed"] == 0 for h in HOSTS), again.stdout
    for host in role_fleet.hosts.values():
        for name in NAMES:
            assert versions(host, workspace, name) == [payload(name, "v2"), payload(name, "v1")], "rolled back twice"
        assert not host.exists(f"{workspace}/notified")


def test_a_rollback_killed_half_way_is_finished_by_a_rerun(role_fleet, play, workspace, tmp_path):
    """b.txt's lock is held while a.txt is rolled back; the module is SIGKILLed waiting for it. A re-run restores
    b.txt, and leaves a.txt alone: no second step back to the older version, no kept version lost."""
    for version in ("v1", "v2", "v3"):
        rollout(play, workspace, version)
    host = role_fleet.hosts["r1"]
    lock = f"{workspace}/ready/.handoff/b.txt.lock"
    assert host.exists(lock), host.run(f"ls -lA {workspace}/ready/.handoff").stdout
    holder = int(host.run(f"flock -o {lock} sleep 300 >/dev/null 2>&1 & echo $!").stdout)
    wait_for(lambda: host.run(f"flock -n {lock} true", check=False).returncode == 1, 30, interval=0.05,
             what="flock(1) to hold b.txt's lock")
    run = start_playbook(role_fleet, "lockstep.handoff.rollback", tmp_path / "killed", args=("--limit", "r1"),
                         env={"ANSIBLE_PIPELINING": "False"},
                         extra_vars={**rollout_vars(workspace), "handoff_promote_lock_timeout": 300})
    try:
        wait_for(lambda: host.read_bytes(f"{workspace}/ready/a.txt") == payload("a.txt", "v2"), PATIENCE, interval=0.05,
                 what="a.txt to be rolled back")
        assert host.run(f"kill -0 {holder}", check=False).returncode == 0, "the lock holder is gone"
        modules = wait_for(lambda: host_processes(host, "AnsiballZ_locked_move"), 60, what="the module")
        for pid in modules:
            os.kill(pid, signal.SIGKILL)
        kill_tree(run.process.pid)
        run.finish()
    finally:
        host.run(f"kill {holder}", check=False)
    assert versions(host, workspace, "a.txt") == [payload("a.txt", "v2"), payload("a.txt", "v1")]
    assert versions(host, workspace, "b.txt") == [payload("b.txt", v) for v in ("v3", "v2", "v1")]

    rerun = play("lockstep.handoff.rollback", "--limit", "r1", extra_vars=rollout_vars(workspace))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.recap["r1"]["changed"] >= 1, rerun.stdout
    for name in NAMES:
        assert versions(host, workspace, name) == [payload(name, "v2"), payload(name, "v1")], name
    assert not [entry for entry in listing(host, f"{workspace}/ready") if entry.endswith(".tmp")]
