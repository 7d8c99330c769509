# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hand-off (atomic_upload -> wait_for_marker -> locked_move) on three real SSH hosts, over every
connection a user may choose, and the collection's own hand-off playbook against a real inventory.

One ansible-playbook run covers every connection: the inventory holds one alias of each of h1..h3
per connection variant (OpenSSH with pipelining on and off, each also with become to another
unprivileged user, and paramiko_ssh), so the variants run side by side in one process instead of a
run each. Every alias works in its own directory. Each module runs in check mode, for real, then a
second time (idempotent: changed=false). The test reads every task's return values from the result
log, then the files inside each host.

paramiko_ssh is deprecated in ansible-core 2.19 and removed in 2.21: on 2.21 its aliases must fail
with a message naming the plugin and touch nothing, while the other aliases in the same run finish.
"""

from __future__ import annotations

import os

from ansible.release import __version__ as ansible_core_version

from tests.support.fleet_runs import ResultLog
from tests.support.handoff_state import assert_consistent, sha256_bytes
from tests.support.host_handoff import scratch_dir, stable_look

from .harness import DATA_DIR, LOGIN_USER
from .variants import SSH_VARIANTS, alias, make_alias_dirs, run_variants

CORE_VERSION = tuple(int(part) for part in ansible_core_version.split(".")[:2])
HAS_PARAMIKO = CORE_VERSION < (2, 21)
HOSTS = ("h1", "h2", "h3")
PAYLOAD_SIZE = 256 * 1024
# variant -> (inventory variables, the user that must own what the modules wrote)
VARIANTS = {**SSH_VARIANTS, "paramiko": ("ansible_connection=paramiko_ssh", LOGIN_USER)}
HANDOFF = """
- name: Producer publishes the payload, marker last
  hosts: handoff
  gather_facts: false
  vars:
    data: "{{ root }}/{{ inventory_hostname }}/payload.bin"
  tasks:
    - name: Publish (check mode)
      lockstep.handoff.atomic_upload: &publish
        src: "{{ payload }}"
        dest: "{{ data }}"
        mode: "0640"
      check_mode: true
    - name: Publish
      lockstep.handoff.atomic_upload: *publish
    - name: Publish (second run)
      lockstep.handoff.atomic_upload: *publish

- name: Consumer waits for the marker, then moves the payload exactly once
  hosts: handoff
  gather_facts: false
  vars:
    data: "{{ root }}/{{ inventory_hostname }}/payload.bin"
  tasks:
    - name: Wait for the marker
      lockstep.handoff.wait_for_marker:
        path: "{{ data }}"
        timeout: 600
    - name: Move (check mode)
      lockstep.handoff.locked_move: &move
        src: "{{ data }}"
        dest: "{{ root }}/{{ inventory_hostname }}/ready/payload.bin"
        marker: move
        create_parents: true
        lock_timeout: 10
      check_mode: true
    - name: Move
      lockstep.handoff.locked_move: *move
    - name: Move (second run)
      lockstep.handoff.locked_move: *move
"""
TASKS = ("Publish (check mode)", "Publish", "Publish (second run)", "Wait for the marker",
         "Move (check mode)", "Move", "Move (second run)")


def check_promises(log, name, sha256):
    """What went wrong for alias ``name`` (empty when nothing): check mode changes nothing, the real run
    publishes and moves, the second run changes nothing."""
    records = {task: log.one(task, name) for task in TASKS}
    failed = {task: record["result"].get("msg") for task, record in records.items() if record["status"] != "ok"}
    if failed:
        return [f"tasks failed: {failed}"]
    result = {task: record["result"] for task, record in records.items()}
    problems = []
    expectations = [
        ("Publish (check mode)", "changed", True),
        # A check-mode run that had written anything would leave the real run only a marker to fix.
        ("Publish", "action", "transfer"), ("Publish", "generation", 1), ("Publish", "sha256", sha256),
        ("Publish (second run)", "action", "none"), ("Publish (second run)", "changed", False),
        ("Wait for the marker", "sha256", sha256), ("Wait for the marker", "size", PAYLOAD_SIZE),
        ("Move", "changed", True), ("Move", "sha256", sha256),
        ("Move (second run)", "changed", False),
    ]
    for task, key, expected in expectations:
        if result[task].get(key) != expected:
            problems.append(f"{task}: {key}={result[task].get(key)!r}, expected {expected!r}")
    for task, prefix in (("Move (check mode)", "would move "), ("Move", "moved "), ("Move (second run)", "already moved")):
        if not result[task]["msg"].startswith(prefix):
            problems.append(f"{task}: msg {result[task]['msg']!r} does not start with {prefix!r}")
    return problems


def check_handed_off(host, directory, sha256, owner):
    """What is wrong in ``directory`` on ``host`` (empty when nothing): ready/ holds the payload with its
    marker, owned by ``owner``, mode 0640; the inbox is empty and no temp file is left."""
    state = stable_look(host, f"{directory}/ready/payload.bin")
    assert_consistent(state, {sha256})
    problems = []
    if state["sha256"] != sha256 or state["marker"]["size"] != PAYLOAD_SIZE or state["temps"]:
        problems.append(f"ready/payload.bin: {state}")
    owner_mode = host.run(f"stat -c '%U %a' {directory}/ready/payload.bin").stdout.split()
    if owner_mode != [owner, "640"]:
        problems.append(f"owner and mode {owner_mode}, expected {[owner, '640']}")
    listing = (host.run(f"ls -A {directory}").stdout.split(), host.run(f"ls -A {directory}/ready").stdout.split())
    if listing != (["ready"], ["payload.bin", "payload.bin.done", "payload.bin.lock"]):
        problems.append(f"left behind: {listing}")
    return problems


def check_paramiko_absent(log, run, fleet, root, name, host):
    """On 2.21 the paramiko alias fails naming the missing plugin, and nothing reached its directory."""
    first = log.results("Publish (check mode)", name)
    problems = []
    if run.recap[name]["ok"] != 0 or len(first) != 1 or first[0]["status"] not in ("failed", "unreachable") \
            or "paramiko_ssh" not in first[0]["result"].get("msg", ""):
        problems.append(f"expected a failure naming paramiko_ssh: recap {run.recap[name]}, results {first}")
    if fleet.hosts[host].run(f"ls -A {root}/{name}").stdout:
        problems.append("something was written although the connection plugin does not exist")
    return problems


def test_handoff_over_every_connection(fleet, ansible_playbook, tmp_path):
    """Invariant: over OpenSSH with pipelining on and off, each with and without become to another
    unprivileged user, and over paramiko_ssh where ansible-core still has it, the three modules hand a
    file off on each of three hosts: check mode writes nothing, the real run publishes and moves the
    exact bytes (owned by the user the module ran as), a second run changes nothing. On ansible-core
    2.21, which removed paramiko_ssh, its aliases fail naming the plugin and the others still finish."""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(PAYLOAD_SIZE))
    sha256 = sha256_bytes(payload.read_bytes())
    log = ResultLog(tmp_path / "results.jsonl")
    hosts = [fleet.hosts[name] for name in HOSTS]
    problems = {}
    with scratch_dir(hosts, DATA_DIR, "connections") as root:
        make_alias_dirs(hosts, root, VARIANTS)
        run = run_variants(ansible_playbook, HANDOFF, fleet, tmp_path, "handoff", HOSTS, VARIANTS,
                           extra_vars={"root": root, "payload": payload}, env=log.env())
        for host in HOSTS:
            for variant, (_settings, owner) in VARIANTS.items():
                name = alias(host, variant)
                if variant == "paramiko" and not HAS_PARAMIKO:
                    found = check_paramiko_absent(log, run, fleet, root, name, host)
                else:
                    found = check_promises(log, name, sha256) or \
                        check_handed_off(fleet.hosts[host], f"{root}/{name}", sha256, owner)
                if found:
                    problems[name] = found
    assert problems == {}, f"{problems}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert run.returncode == (0 if HAS_PARAMIKO else 2), run.stdout[-3000:] + run.stderr[-2000:]


def test_collection_handoff_playbook_over_ssh(fleet, ansible_playbook, tmp_path):
    """Invariant: ``ansible-playbook lockstep.handoff.handoff`` (roles deliver then promote), given the
    fleet's inventory, delivers each file to the incoming directory of each of three hosts and promotes
    it to its final path exactly once: the final file holds the exact bytes, the incoming directory
    is left without data or marker, and every host reports changes and no failure."""
    hosts = [fleet.hosts[name] for name in HOSTS]
    export = tmp_path / "nightly.csv"
    export.write_bytes(os.urandom(64 * 1024))
    with scratch_dir(hosts, DATA_DIR, "playbook") as root:
        files = [{"src": str(export), "dest": f"{root}/app/nightly.csv", "mode": "0640"},
                 {"content": "{{ inventory_hostname }} settings\n", "dest": f"{root}/app/settings.conf"}]
        run = ansible_playbook("lockstep.handoff.handoff", extra_vars={
            "handoff_hosts": ":".join(HOSTS), "handoff_files": files, "handoff_incoming_dir": f"{root}/inbox"})
        delivered = {host.name: (host.read_bytes(f"{root}/app/nightly.csv"),
                                 host.read_bytes(f"{root}/app/settings.conf"),
                                 host.run(f"ls -A {root}/inbox").stdout.split()) for host in hosts}
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in HOSTS:
        assert run.recap[name]["failed"] == 0 and run.recap[name]["changed"] >= 2, run.recap
        nightly, settings, inbox = delivered[name]
        assert nightly == export.read_bytes()
        assert settings == f"{name} settings\n".encode()
        assert [entry for entry in inbox if not entry.endswith(".lock")] == [], inbox
