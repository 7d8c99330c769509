# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules next to what people already run: util-linux flock(1), and the seeds' scp/ssh producer."""

from __future__ import annotations

import os
import subprocess
import time

from tests.support.fleet_runs import PATIENCE, ResultLog, processes_with_open, start_playbook, wait_for
from tests.support.handoff_state import sha256_bytes
from tests.support.host_handoff import plant, scratch_dir
from tests.support.processes import kill_tree

from .harness import DATA_DIR, LOGIN_USER, SSH_OPTIONS

HOLD = 1.0
FLOCK_PLAY = """
- name: Move a file whose lock a flock(1) job holds
  hosts: h1
  gather_facts: false
  tasks:
    - name: Move while the holder keeps the lock
      lockstep.handoff.locked_move: &move
        src: "{{ src }}"
        dest: "{{ dest }}"
        lock_timeout: 1
      ignore_errors: true
    - name: Move once the holder lets go
      lockstep.handoff.locked_move:
        <<: *move
        lock_timeout: 600
"""
CONSUMER_PLAY = """
- name: Consume what a legacy script produces
  hosts: h1
  gather_facts: false
  tasks:
    - name: Wait for the marker
      lockstep.handoff.wait_for_marker:
        path: "{{ inbox }}"
        timeout: 600
    - name: Move
      lockstep.handoff.locked_move:
        src: "{{ inbox }}"
        dest: "{{ ready }}"
"""
# The seeds' producer: scp to a temp name, then, in another step, ssh mv and ssh touch NAME.done.
LEGACY_SCP = 'scp -q "${SSH_ARGS[@]}" "$1" "$REMOTE:$2.tmp"'
LEGACY_MV = 'ssh "${SSH_ARGS[@]}" "$REMOTE" "mv $2.tmp $2"'
LEGACY_TOUCH = 'ssh "${SSH_ARGS[@]}" "$REMOTE" "touch $2.done"'


def test_locked_move_honours_a_flock1_holder(fleet, tmp_path):
    """Invariant: while util-linux flock(1) holds the lock, locked_move fails at lock_timeout with a message
    naming the lock and the holder (pid and command line) and moves nothing; with a longer lock_timeout it
    waits, and moves as soon as the holder lets go, reporting a lock_wait of at least the time it was held."""
    host = fleet.hosts["h1"]
    data = os.urandom(64 * 1024)
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "flock") as root:
        src, dest = f"{root}/in.bin", f"{root}/out.bin"
        lock = f"{dest}.lock"
        plant(host, src, data)
        holder = int(host.run(f"flock {lock} sleep 600 >/dev/null 2>&1 & echo $!").stdout)
        try:
            wait_for(lambda: host.run(f"flock -n {lock} true", check=False).returncode == 1, 10,
                     what="flock(1) to take the lock")
            run = start_playbook(fleet, FLOCK_PLAY, tmp_path / "run", env={"ANSIBLE_PIPELINING": "True", **log.env()},
                                 extra_vars={"src": src, "dest": dest})
            wait_for(lambda: log.results("Move while the holder keeps the lock"), PATIENCE, what="the first move to fail")
            wait_for(lambda: processes_with_open(host, "python3", lock), PATIENCE, what="the second move to wait for the lock")
            time.sleep(HOLD)
        finally:
            kill_tree(holder)
        finished = run.finish()
        assert host.read_bytes(dest) == data
    assert finished.returncode == 0, finished.stdout + finished.stderr
    refused = log.one("Move while the holder keeps the lock", "h1")
    assert refused["status"] == "failed", refused
    message = refused["result"]["msg"]
    assert f"lock {lock} is held by pid {holder} (flock {lock} sleep 600)" in message, message
    moved = log.one("Move once the holder lets go", "h1")["result"]
    assert moved["changed"] and moved["msg"].startswith("moved"), moved
    assert HOLD - 0.01 <= moved["lock_wait"] < 600, moved["lock_wait"]


def legacy_producer(fleet, host, source, path, steps):
    """Run the seeds' producer steps (bash, real scp and ssh with the inventory's key and options)."""
    script = "\n".join(["set -euo pipefail",
                        f"SSH_ARGS=(-i {fleet.private_key} {' '.join(SSH_OPTIONS)} -o BatchMode=yes)",
                        f"REMOTE={LOGIN_USER}@{host.address}", *steps])
    subprocess.run(["bash", "-c", script, "legacy", str(source), path], check=True, timeout=PATIENCE)


def test_legacy_scp_producer_is_consumed_by_a_consumer_started_first(fleet, tmp_path):
    """Invariant: a consumer (wait_for_marker, then locked_move) started before a seeds-style bash producer
    (scp to a temp name, ssh mv, ssh touch NAME.done) does not touch the file before the empty marker
    appears, waits for it, and then moves the complete file."""
    host = fleet.hosts["h1"]
    source = tmp_path / "legacy.bin"
    source.write_bytes(os.urandom(4 * 1024 * 1024))
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "legacy") as root:
        inbox, ready = f"{root}/legacy.bin", f"{root}/ready.bin"
        run = start_playbook(fleet, CONSUMER_PLAY, tmp_path / "run", env={"ANSIBLE_PIPELINING": "False", **log.env()},
                             extra_vars={"inbox": inbox, "ready": ready})
        wait_for(lambda: processes_with_open(host, "AnsiballZ_wait_for_marker", "anon_inode:inotify"), PATIENCE,
                 what="the consumer to wait")
        waiting_since = time.monotonic()
        legacy_producer(fleet, host, source, inbox, [LEGACY_SCP, LEGACY_MV])
        time.sleep(0.3)
        assert host.exists(inbox) and not host.exists(ready), "the consumer took the file before its marker"
        marking = time.monotonic()
        legacy_producer(fleet, host, source, inbox, [LEGACY_TOUCH])
        finished = run.finish()
        assert host.read_bytes(ready) == source.read_bytes()
        assert host.run(f"ls -A {root}").stdout.split() == ["ready.bin", "ready.bin.lock"]
    assert finished.returncode == 0, finished.stdout + finished.stderr
    waited = log.one("Wait for the marker", "h1")["result"]
    assert waited["marker"] == {"state": "complete", "legacy": True}
    assert waited["size"] == len(source.read_bytes())
    assert waited["elapsed"] >= marking - waiting_since, waited
    moved = log.one("Move", "h1")["result"]
    assert moved["changed"] and moved["sha256"] == sha256_bytes(source.read_bytes()), moved
