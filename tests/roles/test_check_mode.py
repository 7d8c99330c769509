# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check mode through the shipped chain on fresh hosts: report what would change, look once, write nothing.

A real run makes its directories with an earlier task (``ansible.builtin.file``,
the deliver role); in check mode that task makes nothing, so every module after
it finds no directory, no data and no marker. Each must then say what a real
run would do - ``changed`` for a publish, ``ok`` with the reason for a wait or a
move whose producer has not run - instead of failing or waiting its timeout.
"""

from __future__ import annotations

import time

from tests.support.fleet_runs import ResultLog
from tests.support.ansible_run import local_inventory, run_playbook as run_local_playbook

HOSTS = ("r1", "r2")
# Far above what one look costs: a module that waits instead of looking once runs into it.
WAITS = 300
PATIENCE_S = 120

CHAIN = """
- name: The hand-off chain, module by module
  hosts: all
  gather_facts: false
  vars:
    base: "{{ workspace }}/{{ inventory_hostname }}"
  tasks:
    - name: Make the directories
      ansible.builtin.file:
        path: "{{ base }}/{{ item }}"
        state: directory
        mode: "0755"
      loop: [inbox, sets]
    - name: Publish one file
      lockstep.handoff.atomic_upload:
        content: "payload of {{ inventory_hostname }}\\n"
        dest: "{{ base }}/inbox/one.txt"
        lock_timeout: 5
    - name: Publish a set
      lockstep.handoff.atomic_upload:
        src: "{{ tree }}"
        dest: "{{ base }}/sets/tree"
    - name: Wait for the file
      lockstep.handoff.wait_for_marker:
        path: "{{ base }}/inbox/one.txt"
        timeout: "{{ waits }}"
    - name: Wait for the set
      lockstep.handoff.wait_for_marker:
        path: "{{ base }}/sets/tree"
        timeout: "{{ waits }}"
    - name: Move the file
      lockstep.handoff.locked_move:
        src: "{{ base }}/inbox/one.txt"
        dest: "{{ base }}/ready/one.txt"
        lock_timeout: "{{ waits }}"
        create_parents: true
    - name: Drain the inbox
      lockstep.handoff.locked_move:
        src: "{{ base }}/inbox"
        dest: "{{ base }}/drained"
        create_parents: true
    - name: Drain the set
      lockstep.handoff.locked_move:
        src: "{{ base }}/sets/tree"
        dest: "{{ base }}/drained-tree"
"""


def result_of(log, task, host):
    """What the module returned for ``task`` on ``host``."""
    return log.one(task, host)["result"]


def chain_vars(workspace, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.csv").write_text("a\n")
    (tree / "sub" / "b.csv").write_text("b\n")
    return {"workspace": workspace, "tree": str(tree), "waits": WAITS}


def test_the_chain_on_fresh_hosts_reports_what_would_change_and_writes_nothing(role_fleet, play, workspace, tmp_path):
    log = ResultLog(tmp_path / "results.jsonl")
    started = time.monotonic()
    run = play(CHAIN, "--check", "--diff", extra_vars=chain_vars(workspace, tmp_path), env=log.env())
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.monotonic() - started < PATIENCE_S, "a module waited in check mode instead of looking once"
    for host in HOSTS:
        one = result_of(log, "Publish one file", host)
        assert one["changed"] and one["action"] == "transfer", one
        assert "does not exist yet" in one["msg"] and f"{workspace}/{host}/inbox" in one["msg"], one
        assert f"+payload of {host}" in run.stdout, "no --diff of the file that would be published"
        tree = result_of(log, "Publish a set", host)
        assert tree["changed"] and tree["action"] == "transfer" and tree["files"] == 2, tree
        assert sorted(tree["files_changed"]) == ["a.csv", "sub/b.csv"], tree
        for task in ("Wait for the file", "Wait for the set"):
            waited = result_of(log, task, host)
            assert not waited["changed"] and not waited.get("failed"), waited
            assert waited["msg"].startswith("check mode looks once instead of waiting"), waited
            assert f"up to {float(WAITS)}s" in waited["msg"] and waited["elapsed"] < 10, waited
        moved = result_of(log, "Move the file", host)
        assert not moved["changed"] and not moved.get("failed"), moved
        assert moved["msg"].startswith("check mode looks once: neither src"), moved
        for task in ("Drain the inbox", "Drain the set"):
            drained = result_of(log, task, host)
            assert not drained["changed"] and not drained.get("failed"), drained
        assert not role_fleet.hosts[host].exists(workspace), "check mode wrote on the host"


def test_check_mode_of_a_ready_inbox_whose_dest_is_missing_says_what_would_move(role_fleet, play, workspace, tmp_path):
    """The drain's dest directory is made by the drain itself (create_parents) or by an earlier task."""
    delivered = play("lockstep.handoff.deliver", extra_vars={
        "handoff_deliver_files": [{"content": f"{name}\n", "dest": f"{workspace}/inbox/{name}"}
                                  for name in ("a.txt", "b.txt")]})
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    log = ResultLog(tmp_path / "results.jsonl")
    drain = """
- name: Drain in check mode
  hosts: all
  gather_facts: false
  tasks:
    - name: Drain with create_parents
      lockstep.handoff.locked_move:
        src: "{{ workspace }}/inbox"
        dest: "{{ workspace }}/made/below"
        create_parents: true
    - name: Drain into a directory an earlier task makes
      lockstep.handoff.locked_move:
        src: "{{ workspace }}/inbox"
        dest: "{{ workspace }}/ready"
"""
    run = play(drain, "--check", extra_vars={"workspace": workspace}, env=log.env())
    assert run.returncode == 0, run.stdout + run.stderr
    for host in HOSTS:
        for task in ("Drain with create_parents", "Drain into a directory an earlier task makes"):
            result = result_of(log, task, host)
            assert result["changed"] and result["msg"].startswith("would move 2 file(s)"), result
            moved = sorted(item["src"] for item in result["moved"])
            assert moved == [f"{workspace}/inbox/a.txt", f"{workspace}/inbox/b.txt"], result
        names = role_fleet.hosts[host].run(f"ls -A {workspace} {workspace}/inbox").stdout.split()
        assert sorted(names) == sorted([f"{workspace}:", "inbox", f"{workspace}/inbox:", "a.txt", "a.txt.done",
                                        "a.txt.lock", "b.txt", "b.txt.done", "b.txt.lock"]), names


def test_the_shipped_handoff_playbook_in_check_mode_on_fresh_hosts(role_fleet, play, workspace, tmp_path):
    files = [{"content": "release=1\n", "dest": f"{workspace}/app/RELEASE"},
             {"content": "x\n", "dest": f"{workspace}/app/x.conf"}]
    log = ResultLog(tmp_path / "results.jsonl")
    started = time.monotonic()
    run = play("lockstep.handoff.handoff", "--check",
               extra_vars={"handoff_files": files, "handoff_incoming_dir": f"{workspace}/incoming"}, env=log.env())
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.monotonic() - started < PATIENCE_S, "check mode waited for markers"
    assert all(run.recap[host]["failed"] == 0 and run.recap[host]["changed"] > 0 for host in HOSTS), run.stdout
    for host in HOSTS:
        # The promote summary says what a real run would wait for first, and why: nothing was delivered yet.
        summary = result_of(log, "lockstep.handoff.promote : Promote | Summary", host)["msg"]
        assert (summary["files"], summary["waiting"], summary["moved"], summary["check_mode"]) == (2, 2, 0, True), summary
        assert len(summary["waiting_for"]) == 2, summary
        for incoming in ("RELEASE", "x.conf"):
            assert any(f"{workspace}/incoming/{incoming}" in why for why in summary["waiting_for"]), summary
    for playbook, extra_vars in (
            ("lockstep.handoff.deliver", {"handoff_deliver_files": files}),
            ("lockstep.handoff.promote", {"handoff_promote_files": [
                {"src": f"{workspace}/incoming/RELEASE", "dest": f"{workspace}/app/RELEASE"}]})):
        run = play(playbook, "--check", extra_vars=extra_vars)
        assert run.returncode == 0, playbook + run.stdout + run.stderr
    assert not any(role_fleet.hosts[host].exists(workspace) for host in HOSTS), "check mode wrote on a host"


def test_the_demo_playbook_in_check_mode_writes_nothing(tmp_path):
    log = ResultLog(tmp_path / "results.jsonl")
    root = tmp_path / "demo"
    started = time.monotonic()
    run = run_local_playbook("lockstep.handoff.demo", local_inventory(tmp_path), args=("--check",),
                             extra_vars={"demo_root": str(root), "demo_hosts": 2}, env=log.env())
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.monotonic() - started < 60, "the demo's wait_for_marker waited in check mode"
    for host in ("demo1", "demo2"):
        assert result_of(log, "Demo | Publish the report", host)["changed"]
        assert result_of(log, "Demo | Wait for the producer's marker", host)["msg"].startswith("check mode looks once")
        assert result_of(log, "Demo | Move it into place under the lock", host)["msg"].startswith("check mode looks once")
    assert not root.exists(), "the demo wrote in check mode"
