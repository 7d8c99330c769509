# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults on real SSH hosts: killed controllers and consumers, a full disk, a read-only disk, no
permission, a host that dies mid-play. Whatever breaks, no reader sees a partial file and the
operator gets one clear message per host."""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.fleet_runs import PATIENCE, ResultLog, host_processes, inside, start_playbook, wait_for
from tests.support.handoff_state import assert_consistent, sha256_bytes
from tests.support.host_handoff import marker_bytes, plant, scratch_dir, stable_look
from tests.support.processes import kill_tree

from .harness import BECOME_USER, DATA_DIR, LOGIN_USER, HostSpec

SEED = 20261123
KILL_HOSTS = ("h1", "h2", "h3")
TRIALS_PER_HOST = 7
KILL_SIZE = 8 * 1024 * 1024
MOVE_SIZE = 64 * 1024 * 1024
PIPELINED = {"ANSIBLE_PIPELINING": "True"}
# Module files on the host, so that the module process can be found by its command line.
UNPIPELINED = {"ANSIBLE_PIPELINING": "False"}
UPLOAD = """
- name: Upload one version
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ dest }}"
"""
REUPLOAD = """
- name: Re-run every interrupted upload
  hosts: h1:h2:h3
  gather_facts: false
  tasks:
    - name: Publish again
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ item }}"
      loop: "{{ dests[inventory_hostname] }}"
    - name: Publish again, removing the temps the killed uploads left
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ item }}"
        remove_temps_older_than: 0
      loop: "{{ dests[inventory_hostname] }}"
"""
MOVE = """
- name: Move one file across filesystems
  hosts: h1
  gather_facts: false
  tasks:
    - name: Move
      lockstep.handoff.locked_move:
        src: "{{ src }}"
        dest: "{{ dest }}"
        lock_timeout: 5
"""


def write_version(path, size):
    """Random bytes of ``size`` at ``path`` on the controller; return their sha256."""
    data = os.urandom(size)
    path.write_bytes(data)
    return sha256_bytes(data)


def wait_until_quiet(host, timeout=PATIENCE):
    """Wait until no module process runs in ``host``: a killed controller's module may still finish."""
    try:
        wait_for(lambda: not host_processes(host, "python3"), timeout, interval=0.02,
                 what=f"module processes on {host.name} to end")
    except AssertionError as exc:
        lingering = host.run("ps -o pid,ppid,etime,args -u handoff", check=False).stdout
        raise AssertionError(f"{exc}; still running:\n{lingering}") from exc


def temp_appeared(host, dest):
    """Whether a temp file of ``dest`` (``.NAME.*.tmp``) exists in its directory inside ``host``."""
    directory, name = os.path.split(dest)
    return any(entry.startswith(f".{name}.") for entry in os.listdir(inside(host, directory)))


def kill_one_upload(fleet, host, dest, src, delay, output_dir):
    """Start an upload of ``src`` to ``dest``; once its temp file exists, wait ``delay`` and kill the run."""
    run = start_playbook(fleet, UPLOAD, output_dir, env=PIPELINED,
                         extra_vars={"target": host.name, "src": src, "dest": dest})
    wait_for(lambda: temp_appeared(host, dest) or run.process.poll() is not None,
             PATIENCE, interval=0.005, what=f"the upload to {dest} to start")
    time.sleep(delay)
    kill_tree(run.process.pid)
    run.finish()
    wait_until_quiet(host)
    return stable_look(host, dest)


def kill_lane(fleet, host, trials, src, output_dir):
    """Kill one upload per trial directory on one host, one after another; return {dest: what it left}."""
    return {dest: kill_one_upload(fleet, host, dest, src, delay, output_dir / os.path.basename(os.path.dirname(dest)))
            for dest, delay in trials}


def plant_trials(host, root, data, count):
    """Directories ``root/t0..`` each holding ``data`` published with its marker (the version to replace)."""
    plant(host, f"{root}/seed.bin", data)
    host.run(f"for t in $(seq 0 {count - 1}); do mkdir {root}/t$t && cp {root}/seed.bin {root}/t$t/payload.bin"
             f" && cp {root}/seed.bin.done {root}/t$t/payload.bin.done; done; rm {root}/seed.bin {root}/seed.bin.done")
    return [f"{root}/t{trial}/payload.bin" for trial in range(count)]


def calibrate_upload(fleet, host, root, src, output_dir):
    """Seconds from the temp file's appearance to the end of an unkilled upload (the window kills aim at)."""
    dest = f"{root}/calibration.bin"
    run = start_playbook(fleet, UPLOAD, output_dir, env=PIPELINED,
                         extra_vars={"target": host.name, "src": src, "dest": dest})
    wait_for(lambda: temp_appeared(host, dest), PATIENCE, interval=0.005, what="the calibration upload to start")
    started = time.monotonic()
    finished = run.finish()
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return time.monotonic() - started


def test_killed_uploads_never_expose_partial_data_and_reruns_converge(fleet, tmp_path):
    """Invariant: ansible-playbook killed (whole process tree) at seeded random points of an upload over
    ssh leaves dest absent or one complete version, never a marker without data, never a marker that
    disagrees with the data; re-running converges to the new version, the re-run names every temp
    file the killed runs left ("interrupted uploads"), and one with remove_temps_older_than=0 removes
    exactly those and reports them in removed_temps."""
    # Each kill lands a seeded random delay after the probe created the temp file, up to 1.2 times what
    # an upload takes from there: a kill before that point only ends ansible-playbook before it touched
    # the host. Three hosts take turns in parallel, one kill after another on each.
    rng = random.Random(SEED)
    hosts = [fleet.hosts[name] for name in KILL_HOSTS]
    old = tmp_path / "old.bin"
    new = tmp_path / "new.bin"
    versions = {write_version(old, KILL_SIZE): "old", write_version(new, KILL_SIZE): "new"}
    with scratch_dir(hosts, DATA_DIR, "kill") as root:
        window = calibrate_upload(fleet, hosts[0], root, str(new), tmp_path / "calibration")
        lanes = {host.name: [(dest, rng.uniform(0, window * 1.2))
                             for dest in plant_trials(host, root, old.read_bytes(), TRIALS_PER_HOST)]
                 for host in hosts}
        with ThreadPoolExecutor(len(hosts)) as pool:
            futures = {host.name: pool.submit(kill_lane, fleet, host, lanes[host.name], str(new), tmp_path / host.name)
                       for host in hosts}
            outcomes = {name: future.result() for name, future in futures.items()}
        for states in outcomes.values():
            for state in states.values():
                assert_consistent(state, set(versions))
        dests = {name: sorted(states) for name, states in outcomes.items()}
        log = ResultLog(tmp_path / "rerun.jsonl")
        again = start_playbook(fleet, REUPLOAD, tmp_path / "rerun", env={**PIPELINED, **log.env()},
                               extra_vars={"src": str(new), "dests": dests}).finish()
        finals = {(host.name, dest): stable_look(host, dest) for host in hosts for dest in dests[host.name]}
    assert again.returncode == 0, again.stdout + again.stderr
    # Warnings are wrapped to the terminal width, which may break a long path: search unwrapped text.
    reported = (again.stdout + again.stderr).replace("\n", "")
    removed = {(record["host"], record["result"]["dest"]): record["result"]["removed_temps"]
               for record in log.results("Publish again, removing the temps the killed uploads left", items=True)}
    summary = []
    for (name, dest), final in finals.items():
        before = outcomes[name][dest]
        assert_consistent(final, set(versions))
        assert versions[final["sha256"]] == "new" and final["marker"] is not None, final
        leftovers = [f"{os.path.dirname(dest)}/{temp}" for temp in before["temps"]]
        for temp in leftovers:
            assert temp in reported, f"{name}: leftover {temp} not reported by the re-run"
        assert sorted(removed[(name, dest)]) == leftovers, (name, dest, removed[(name, dest)])
        assert final["temps"] == [], f"{name}: temps left after remove_temps_older_than=0: {final}"
        summary.append((versions.get(before["sha256"], "absent"), before["marker"] is not None,
                        len(before["temps"])))
    if any(outcome[2] for outcome in summary):
        assert "interrupted uploads" in reported
    print("kill outcomes (dest version, marker?, temps):", sorted(summary))


def test_consumer_killed_mid_cross_device_move_leaves_no_partial_dest(fleet, tmp_path):
    """Invariant: a consumer (ansible-playbook and its module process on the host) killed while copying
    a file across filesystems leaves the source with its marker, no partial dest, and a free lock
    (flock -n succeeds); re-running completes the move exactly once, and a third run has nothing to do."""
    host = fleet.hosts["h1"]
    data = os.urandom(MOVE_SIZE)
    with scratch_dir([host], DATA_DIR, "crossdev") as root, scratch_dir([host], "/var/tmp", "lockstep") as disk:
        src, dest = f"{root}/big.bin", f"{disk}/big.bin"
        plant(host, src, data)
        run = start_playbook(fleet, MOVE, tmp_path / "killed", env=UNPIPELINED,
                             extra_vars={"src": src, "dest": dest})
        wait_for(lambda: temp_appeared(host, dest) or run.process.poll() is not None,
                 PATIENCE, interval=0.005, what="the copy to start")
        for pid in host_processes(host, "AnsiballZ_locked_move"):
            os.kill(pid, signal.SIGKILL)
        kill_tree(run.process.pid)
        run.finish()
        wait_until_quiet(host)
        copied = host.run(f"ls -lA {disk}").stdout
        print(f"killed mid-move of {MOVE_SIZE} bytes; {disk} then held:\n{copied}")
        assert not host.exists(dest), f"partial dest after the kill: {copied}"
        assert host.read_bytes(src) == data
        assert host.read_bytes(src + ".done") == marker_bytes(data)
        assert host.run(f"flock -n {dest}.lock true", check=False).returncode == 0, "the lock is still held"
        log = ResultLog(tmp_path / "reruns.jsonl")
        reruns = [start_playbook(fleet, MOVE, tmp_path / f"rerun{index}", env={**UNPIPELINED, **log.env()},
                                 extra_vars={"src": src, "dest": dest}).finish() for index in range(2)]
        assert [rerun.returncode for rerun in reruns] == [0, 0], reruns[0].stdout + reruns[1].stdout
        first, second = (record["result"] for record in log.results("Move", "h1"))
        assert first["changed"] and first["cross_device"] and first["msg"].startswith("moved"), first
        assert not second["changed"] and second["msg"].startswith("already moved"), second
        assert host.read_bytes(dest) == data
        assert not host.exists(src) and not host.exists(src + ".done")
        # The killed copy's temp is named by the re-run (kept: it could be a live upload's).
        partial = [f"{disk}/{name}" for name in host.run(f"ls -A {disk}").stdout.split()
                   if name.startswith(".big.bin.") and name.endswith(".tmp")]
        assert partial and first.get("leftover_temps") == partial, (partial, first)


def test_full_disk_fails_clearly_and_leaves_the_old_version(fleet, ansible_playbook, tmp_path):
    """Invariant: uploading 1 MiB to a 256 KiB disk fails saying the disk holding dest is full, and the old
    dest, its marker and the directory (no temp file) are exactly as before."""
    host = fleet.hosts["h4"]
    big = tmp_path / "big.bin"
    write_version(big, 1024 * 1024)
    old = b"old version\n" * 100
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "enospc") as root:
        dest = f"{root}/data.bin"
        plant(host, dest, old)
        before = host.run(f"ls -A {root}").stdout
        run = ansible_playbook(UPLOAD, extra_vars={"target": "h4", "src": big, "dest": dest}, env=log.env())
        assert host.read_bytes(dest) == old
        assert host.read_bytes(dest + ".done") == marker_bytes(old)
        assert host.run(f"ls -A {root}").stdout == before
    assert run.returncode == 2 and run.recap["h4"]["failed"] == 1, run.stdout + run.stderr
    message = log.one("Publish", "h4")["result"]["msg"]
    assert f"the disk is full: the filesystem holding {root} has" in message, message


def test_read_only_destination_fails_clearly_on_that_host_only(fleet, ansible_playbook, tmp_path):
    """Invariant: on a read-only disk the upload and the move each fail with a message naming the
    read-only filesystem (the move's names its lock file), while the same play succeeds on a writable host."""
    dest = f"{DATA_DIR}/readonly-{os.getpid()}.txt"
    log = ResultLog(tmp_path / "results.jsonl")
    playbook = """
- name: Publish and move on a read-only and a writable host
  hosts: h1:h5
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        content: "data\\n"
        dest: "{{ dest }}"
      ignore_errors: "{{ inventory_hostname == 'h5' }}"
    - name: Move on the read-only host
      lockstep.handoff.locked_move:
        src: "{{ dest }}"
        dest: "{{ dest }}.moved"
      when: inventory_hostname == 'h5'
"""
    try:
        run = ansible_playbook(playbook, extra_vars={"dest": dest}, env=log.env())
        assert fleet.hosts["h1"].read_bytes(dest) == b"data\n"
    finally:
        fleet.hosts["h1"].run(f"rm -f {dest} {dest}.done")
    assert run.recap["h1"]["failed"] == 0 and run.recap["h1"]["changed"] == 1, run.stdout
    assert run.recap["h5"]["ignored"] == 1 and run.recap["h5"]["failed"] == 1, run.stdout
    published = log.one("Publish", "h5")["result"]["msg"]
    assert f"the filesystem holding {DATA_DIR} is mounted read-only" in published, published
    moved = log.one("Move on the read-only host", "h5")["result"]["msg"]
    assert moved.startswith(f"opening lock file {dest}.moved.lock failed: the filesystem holding {DATA_DIR} "
                            "is mounted read-only"), moved


def test_permission_denied_names_the_user(fleet, ansible_playbook, tmp_path):
    """Invariant: publishing into a root-owned 0755 directory fails with a message naming the user the
    module ran as (the login user, or the become user), and nothing is written there."""
    host = fleet.hosts["h1"]
    log = ResultLog(tmp_path / "results.jsonl")
    playbook = """
- name: Publish into a directory the user may not write
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish as the login user
      lockstep.handoff.atomic_upload:
        content: "data\\n"
        dest: "{{ locked }}/data.txt"
      ignore_errors: true
    - name: Publish as the become user
      lockstep.handoff.atomic_upload:
        content: "data\\n"
        dest: "{{ locked }}/data.txt"
      become: true
      become_user: "{{ become_user }}"
      ignore_errors: true
"""
    with scratch_dir([host], DATA_DIR, "perm") as root:
        locked = f"{root}/root-owned"
        host.run(f"mkdir -m 0755 {locked}", user="root")
        run = ansible_playbook(playbook, extra_vars={"locked": locked, "become_user": BECOME_USER},
                               env=log.env())
        assert host.run(f"ls -A {locked}").stdout == ""
    assert run.recap["h1"]["failed"] == 0 and run.recap["h1"]["ignored"] == 2, run.stdout
    for task, user in (("Publish as the login user", LOGIN_USER), ("Publish as the become user", BECOME_USER)):
        failed = log.one(task, "h1")
        assert failed["status"] == "failed"
        assert f"permission denied for {user} (uid " in failed["result"]["msg"], failed
        assert locked in failed["result"]["msg"]


def test_host_dying_mid_play_is_unreachable_and_the_others_finish(start_fleet, tmp_path):
    """Invariant: when one host's sshd dies while a play runs on it, that host is UNREACHABLE in the
    recap and the other hosts finish the hand-off (publish, wait, move) untouched by it."""
    fleet = start_fleet([HostSpec("h1"), HostSpec("h2"), HostSpec("h3")])
    playbook = """
- name: Publish everywhere
  hosts: all
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        content: "for {{ inventory_hostname }}\\n"
        dest: "{{ root }}/data.txt"

- name: Consume once the test says go
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait for the go signal
      ansible.builtin.wait_for:
        path: "{{ root }}/go"
        timeout: 600
    - name: Wait for the marker
      lockstep.handoff.wait_for_marker:
        path: "{{ root }}/data.txt"
    - name: Move
      lockstep.handoff.locked_move:
        src: "{{ root }}/data.txt"
        dest: "{{ root }}/moved.txt"
"""
    root = f"{DATA_DIR}/unreachable"
    for host in fleet.hosts.values():
        host.run(f"mkdir {root}")
    log = ResultLog(tmp_path / "results.jsonl")
    run = start_playbook(fleet, playbook, tmp_path / "run", env={**UNPIPELINED, **log.env()},
                         extra_vars={"root": root})
    dying = fleet.hosts["h3"]
    wait_for(lambda: host_processes(dying, "AnsiballZ_wait_for.py"), PATIENCE, what="play 2 to reach h3")
    dying.kill_sshd()
    for name in ("h1", "h2"):
        fleet.hosts[name].run(f"touch {root}/go")
    finished = run.finish()
    assert finished.recap["h3"]["unreachable"] == 1, finished.stdout
    for name in ("h1", "h2"):
        assert finished.recap[name]["failed"] == 0 and finished.recap[name]["unreachable"] == 0, finished.stdout
        assert fleet.hosts[name].read_bytes(f"{root}/moved.txt") == f"for {name}\n".encode()
        assert log.one("Move", name)["result"]["changed"] is True
    assert log.one("Publish", "h3")["status"] == "ok"
