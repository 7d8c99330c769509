# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The promote role on real hosts, fed by the deliver role: check mode, real run, rerun, notify."""

from __future__ import annotations

import time

HOSTS = ("r1", "r2")
NAMES = ("a.txt", "b.txt")


def deliver(play, workspace):
    """Publish a.txt and b.txt into WORKSPACE/inbox on every host, markers in inbox/.handoff."""
    run = play("lockstep.handoff.deliver", extra_vars={
        "handoff_deliver_files": [{"content": f"{name} payload\n", "dest": f"{workspace}/inbox/{name}"}
                                  for name in NAMES],
        "handoff_deliver_state_dir": ".handoff",
    })
    assert run.returncode == 0, run.stdout + run.stderr


def promote_vars(workspace, **overrides):
    """Extra vars that promote a.txt and b.txt from inbox to ready, touching WORKSPACE/notified."""
    extra_vars = {
        "handoff_promote_files": [{"src": f"{workspace}/inbox/{name}", "dest": f"{workspace}/ready/{name}"}
                                  for name in NAMES],
        "handoff_promote_state_dir": ".handoff",
        "handoff_promote_timeout": 30,
        "handoff_promote_notify_command": f"touch {workspace}/notified",
    }
    extra_vars.update(overrides)
    return extra_vars


def listing(host, directory):
    """Names in ``directory`` on ``host``, dot files included, sorted; [] when it does not exist."""
    return host.run(f"ls -A {directory} 2>/dev/null || true").stdout.split()


def test_promote_check_mode_then_real_run_then_idempotent(role_fleet, play, workspace):
    deliver(play, workspace)

    checked = play("lockstep.handoff.promote", "--check", extra_vars=promote_vars(workspace))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(checked.recap[h]["changed"] == 1 for h in HOSTS), checked.stdout
    for name in HOSTS:
        host = role_fleet.hosts[name]
        assert listing(host, f"{workspace}/inbox") == [".handoff", *NAMES], "check mode moved something"
        assert not host.exists(f"{workspace}/ready")

    moved = play("lockstep.handoff.promote", extra_vars=promote_vars(workspace))
    assert moved.returncode == 0, moved.stdout + moved.stderr
    for name in HOSTS:
        host = role_fleet.hosts[name]
        assert [host.read_bytes(f"{workspace}/ready/{n}") for n in NAMES] == [b"a.txt payload\n", b"b.txt payload\n"]
        assert listing(host, f"{workspace}/ready") == [".handoff", *NAMES], "a lock landed in the ready dir"
        assert listing(host, f"{workspace}/ready/.handoff") == [f"{n}.lock" for n in NAMES]
        assert listing(host, f"{workspace}/inbox") == [".handoff"]
        assert listing(host, f"{workspace}/inbox/.handoff") == [f"{n}.lock" for n in NAMES], "a marker was left"
        assert host.exists(f"{workspace}/notified"), "the handler did not run after a move"
        host.run(f"rm {workspace}/notified")

    started = time.monotonic()
    again = play("lockstep.handoff.promote", extra_vars=promote_vars(workspace))
    assert again.returncode == 0, again.stdout + again.stderr
    assert time.monotonic() - started < 25, "the rerun waited for markers of files already promoted"
    assert all(again.recap[h]["changed"] == 0 for h in HOSTS), again.stdout
    assert not any(role_fleet.hosts[h].exists(f"{workspace}/notified") for h in HOSTS), "handler ran without a move"


def test_a_file_that_never_arrives_fails_with_what_the_wait_saw(role_fleet, play, workspace):
    run = play("lockstep.handoff.promote", "--limit", "r1", extra_vars=promote_vars(
        workspace, handoff_promote_timeout=1,
        handoff_promote_files=[{"src": f"{workspace}/inbox/never", "dest": f"{workspace}/ready/never"}]))
    assert run.returncode != 0
    assert run.recap["r1"]["failed"] == 1, run.stdout
    assert f"{workspace}/inbox/never: src {workspace}/inbox/never does not exist" in run.stdout, run.stdout
    assert "(waiting: timed out after 1.0s" in run.stdout, run.stdout
    assert not role_fleet.hosts["r1"].exists(f"{workspace}/notified")


RESULTS_PLAY = """
- name: Deliver, promote, then use what the roles left
  hosts: all
  gather_facts: false
  roles:
    - role: lockstep.handoff.deliver
    - role: lockstep.handoff.promote
  tasks:
    - name: Show the roles' results
      ansible.builtin.debug:
        msg: "delivered={{ handoff_deliver_result.files | map(attribute='dest') | join(',') }}
              statuses={{ handoff_promote_result.results | map(attribute='status') | join(',') }}"
"""


def test_the_roles_leave_their_results_for_the_tasks_after_them(role_fleet, play, workspace):
    run = play(RESULTS_PLAY, extra_vars={
        "handoff_deliver_files": [{"content": f"{name} payload\n", "dest": f"{workspace}/inbox/{name}"}
                                  for name in NAMES],
        **promote_vars(workspace, handoff_promote_state_dir="")})
    assert run.returncode == 0, run.stdout + run.stderr
    delivered = ",".join(f"{workspace}/inbox/{name}" for name in NAMES)
    assert run.stdout.count(f"delivered={delivered} statuses=moved,moved") == len(HOSTS), run.stdout
