# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection under Mitogen for Ansible (``strategy: mitogen_linear``) on real SSH hosts.

Mitogen runs every module inside one Python interpreter per host (and per become user) that
lives as long as the play: the next task runs where the last one ran. Whatever a module leaves
behind there - an open lock or directory descriptor, a thread, a signal handler, objects frozen
out of the garbage collector - the following tasks inherit. After every step of a hand-off, the
faults included, a test-only module (``mitogen_library/interpreter_state.py``) reports the
interpreter's state, and the test compares it with the state before the first step.

Transfers under Mitogen go over its own channel to the host: the uncompressed-ssh path of
``atomic_upload`` (a separate ssh master without ``-C``) belongs to ansible-core's ssh plugin
only, and direct transfer into dest's directory still happens where the probe allows it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.fleet_runs import ResultLog
from tests.support.handoff_state import sha256_bytes
from tests.support.host_handoff import marker_bytes, plant, scratch_dir
from tests.support.mitogen import mitogen_env, strategy_dir

from .harness import BECOME_USER, DATA_DIR, LOGIN_USER
from .variants import BECOME, alias

HOSTS = ("h1", "h2", "h3")
LIBRARY = Path(__file__).parent / "mitogen_library"
PAYLOAD_SIZE = 256 * 1024
# Above atomic_upload's 8 MiB threshold for transfer_compression=auto: over ansible-core's ssh it
# would go through a master of its own without -C.
BIG_SIZE = 9 * 1024 * 1024
TREE_FILES = 3
VARIANTS = {"mitogen": ("", LOGIN_USER), "mitogen-become": (BECOME, BECOME_USER)}
STEPS = ("Upload", "Upload big", "Upload a directory", "Upload refused by validate", "Wait", "Wait times out",
         "Hold the lock",
         "Move times out", "Release the lock", "Move", "Command")


def _state(step):
    return f"State after {step}"


def _handoff_playbook():
    """Each step of a hand-off, the faults included, followed by a look at the interpreter."""
    steps = {
        "Upload": """
      lockstep.handoff.atomic_upload:
        src: "{{ payload }}"
        dest: "{{ d }}/payload.bin"
        mode: "0640"
        lock: true""",
        "Upload big": """
      lockstep.handoff.atomic_upload:
        src: "{{ big }}"
        dest: "{{ bigdir }}/big.bin"
        transfer_compression: "off\"""",
        "Upload a directory": """
      lockstep.handoff.atomic_upload:
        src: "{{ tree }}"
        dest: "{{ d }}/tree"
        mode: "0640\"""",
        "Upload refused by validate": """
      lockstep.handoff.atomic_upload:
        content: "not valid\\n"
        dest: "{{ d }}/config.conf"
        validate: "false %s"
        lock: true
      ignore_errors: true""",
        "Wait": """
      lockstep.handoff.wait_for_marker:
        path: "{{ d }}/payload.bin"
        timeout: 60""",
        "Wait times out": """
      lockstep.handoff.wait_for_marker:
        path: "{{ d }}/never.bin"
        timeout: 1
      ignore_errors: true""",
        "Hold the lock": """
      ansible.builtin.shell: >-
        mkdir -p {{ d }}/ready &&
        (flock {{ d }}/ready/payload.bin.lock sh -c
        'touch {{ d }}/held; while [ ! -e {{ d }}/release ]; do sleep 0.1; done' >/dev/null 2>&1 &);
        while [ ! -e {{ d }}/held ]; do sleep 0.05; done""",
        "Release the lock": """
      ansible.builtin.file:
        path: "{{ d }}/release"
        state: touch
        mode: "0644\"""",
        "Move times out": """
      lockstep.handoff.locked_move:
        src: "{{ d }}/payload.bin"
        dest: "{{ d }}/ready/payload.bin"
        lock_timeout: 0.5
      ignore_errors: true""",
        "Move": """
      lockstep.handoff.locked_move:
        src: "{{ d }}/payload.bin"
        dest: "{{ d }}/ready/payload.bin"
        lock_timeout: 60""",
        "Command": """
      lockstep.handoff.locked_command:
        lock_path: "{{ d }}/command.lock"
        argv: [sh, -c, "echo $PPID"]""",
    }
    tasks = ["    - name: State at the start\n      interpreter_state:"]
    for step in STEPS:
        tasks.append(f"    - name: {step}{steps[step]}")
        tasks.append(f"    - name: {_state(step)}\n      interpreter_state:")
    return ("- name: Hand-off under Mitogen, the interpreter looked at after every step\n"
            "  hosts: mitogen\n  gather_facts: false\n  tasks:\n" + "\n".join(tasks) + "\n")


@pytest.fixture
def mitogen_run(ansible_playbook):
    """ansible_playbook under mitogen_linear, with the test-only module on the library path."""
    if strategy_dir() is None:
        pytest.fail("mitogen is not installed in this controller venv; run scripts/bootstrap")

    def run(playbook, *args, env=None, **kwargs):
        return ansible_playbook(playbook, *args, env={**mitogen_env(), "ANSIBLE_LIBRARY": str(LIBRARY),
                                                      **(env or {})}, **kwargs)
    return run


@pytest.fixture
def private_dirs(fleet):
    """A directory per alias below the login user's home, which only that user can write: where the probe
    allows a direct transfer. /home is the machine's, shared by the hosts, so each alias has its own."""
    root = f"/home/{LOGIN_USER}/mitogen-{uuid.uuid4().hex[:8]}"
    host = fleet.hosts["h1"]
    host.run(f"mkdir -m 0755 {root}")
    yield root
    host.run(f"rm -rf {root}", user="root", check=False)


def _inventory(fleet, directory, root, private_root):
    lines = ["[mitogen]"]
    for name in HOSTS:
        for variant, (settings, _owner) in VARIANTS.items():
            bigdir = f"{private_root}/{alias(name, variant)}" if variant == "mitogen" else f"{root}/{alias(name, variant)}"
            lines.append(f"{alias(name, variant)} ansible_host={fleet.hosts[name].address} {settings} "
                         f"d={root}/{alias(name, variant)} bigdir={bigdir}")
    path = Path(directory) / "mitogen.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def _interpreter_problems(log, name, roots):
    """What the steps left in the interpreter of alias ``name`` (empty when nothing)."""
    start = log.one("State at the start", name)["result"]
    command_pid = int(log.one("Command", name)["result"]["stdout"])
    problems = []
    if command_pid != start["pid"]:
        problems.append(f"locked_command ran in process {command_pid}, the interpreter is {start['pid']}: "
                        "Mitogen no longer runs the modules in the reused interpreter, so this test checks nothing")
    for step in STEPS:
        state = log.one(_state(step), name)["result"]
        held = {fd: target for fd, target in state["descriptors"].items() if target.startswith(roots)}
        if held:
            problems.append(f"after {step}: descriptors still open on {held}")
        for key in ("pid", "threads", "signals", "gc_frozen"):
            if state[key] != start[key]:
                problems.append(f"after {step}: {key} is {state[key]!r}, was {start[key]!r}")
    return problems


def _step_problems(log, name, variant, sha256):
    """What the steps themselves did wrong for alias ``name`` (empty when nothing)."""
    result = {step: log.one(step, name) for step in STEPS}
    problems = []
    expected_failures = {"Upload refused by validate": "validate command", "Wait times out": "timed out",
                         "Move times out": "lock"}
    for step, record in result.items():
        failed = record["status"] != "ok"
        if failed != (step in expected_failures):
            problems.append(f"{step}: status {record['status']}: {record['result'].get('msg')}")
        elif failed and expected_failures[step] not in record["result"].get("msg", ""):
            problems.append(f"{step}: message {record['result'].get('msg')!r} lacks {expected_failures[step]!r}")
    tree = result["Upload a directory"]["result"]
    if (tree.get("changed"), tree.get("files"), len(tree.get("files_changed", []))) != (True, TREE_FILES, TREE_FILES):
        problems.append(f"Upload a directory: {tree}")
    if result["Upload big"]["result"].get("transfer", {}).get("ssh_compression") is not True:
        problems.append(f"Upload big: Mitogen's channel compresses by default, the result says "
                        f"{result['Upload big']['result'].get('transfer')}")
    expected_path = "direct" if variant == "mitogen" else "staged"
    if result["Upload big"]["result"].get("transfer_path") != expected_path:
        problems.append(f"Upload big: transfer_path {result['Upload big']['result'].get('transfer_path')!r}, "
                        f"expected {expected_path!r}")
    if (result["Move"]["result"].get("changed"), result["Move"]["result"].get("sha256")) != (True, sha256):
        problems.append(f"Move: {result['Move']['result']}")
    return problems


def test_handoff_under_mitogen_leaves_nothing_in_the_reused_interpreter(fleet, mitogen_run, private_dirs, tmp_path):
    """Invariant: under mitogen_linear, as the login user and with become, on three hosts, every step of a
    hand-off - uploads (streamed, direct into a private directory, a directory as one set, refused by
    validate), waits (one timing
    out), a move that times out on a held lock, the move once the lock is free, a locked command - runs in
    the one reused interpreter and leaves it as it found it: no descriptor on anything in the hand-off
    directories, the same threads and signal handlers, no objects frozen out of the collector. The
    expected faults fail with their message, the rest succeed, the large transfer goes direct where the
    probe allows it, and the uncompressed-ssh path of ansible-core's ssh plugin is not taken."""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(PAYLOAD_SIZE))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(BIG_SIZE))
    tree = tmp_path / "tree"
    tree.mkdir()
    for number in range(TREE_FILES):
        (tree / f"part{number}.conf").write_text(f"part {number}\n")
    sha256 = sha256_bytes(payload.read_bytes())
    log = ResultLog(tmp_path / "results.jsonl")
    hosts = [fleet.hosts[name] for name in HOSTS]
    problems = {}
    with scratch_dir(hosts, DATA_DIR, "mitogen") as root:
        for host in hosts:
            host.run(" && ".join(f"mkdir -m 2775 {root}/{alias(host.name, variant)}" for variant in VARIANTS))
        hosts[0].run(" && ".join(f"mkdir -m 0755 {private_dirs}/{alias(name, 'mitogen')}" for name in HOSTS))
        inventory = _inventory(fleet, tmp_path, root, private_dirs)
        run = mitogen_run(_handoff_playbook(), "-i", str(inventory), "--forks", str(len(HOSTS) * len(VARIANTS)),
                          "-vvv", extra_vars={"payload": payload, "big": big, "tree": f"{tree}/"}, env=log.env())
        for host in hosts:
            for variant, (_settings, owner) in VARIANTS.items():
                name = alias(host.name, variant)
                found = _step_problems(log, name, variant, sha256) + \
                    _interpreter_problems(log, name, (root, private_dirs))
                ready = f"{root}/{name}/ready/payload.bin"
                if host.read_bytes(ready) != payload.read_bytes() or \
                        host.run(f"stat -c %U {ready}").stdout.strip() != owner:
                    found.append(f"{ready} does not hold the payload owned by {owner}")
                if found:
                    problems[name] = found
    assert problems == {}, f"{problems}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert "without compression" not in run.stdout, "the uncompressed-ssh path was taken over Mitogen's connection"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


FULL_DISK = """
- name: Upload to a full disk under Mitogen
  hosts: h4
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ dest }}"
      ignore_errors: true
    - name: State after the failure
      interpreter_state:
"""


def test_full_disk_under_mitogen_fails_clearly_and_holds_nothing_open(fleet, mitogen_run, tmp_path):
    """Invariant: under mitogen_linear, uploading 1 MiB to a 256 KiB disk fails saying the disk is full; the
    old dest, its marker and the directory (no temp file, Mitogen's own included) are as before, and the
    interpreter holds no descriptor in that directory afterwards."""
    host = fleet.hosts["h4"]
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    old = b"old version\n" * 100
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "mitogen-enospc") as root:
        dest = f"{root}/data.bin"
        plant(host, dest, old)
        before = host.run(f"ls -A {root}").stdout
        run = mitogen_run(FULL_DISK, extra_vars={"src": big, "dest": dest}, env=log.env())
        assert host.read_bytes(dest) == old
        assert host.read_bytes(dest + ".done") == marker_bytes(old)
        assert host.run(f"ls -A {root}").stdout == before
    assert run.returncode == 0 and run.recap["h4"]["ignored"] == 1, run.stdout + run.stderr
    message = log.one("Publish", "h4")["result"]["msg"]
    assert f"the disk is full: the filesystem holding {root} has" in message, message
    held = [target for target in log.one("State after the failure", "h4")["result"]["descriptors"].values()
            if target.startswith(root)]
    assert held == []


def test_collection_handoff_playbook_under_mitogen(fleet, mitogen_run, tmp_path):
    """Invariant: ``ansible-playbook lockstep.handoff.handoff`` (roles deliver then promote) under
    mitogen_linear delivers each file to the incoming directory of each of three hosts and promotes it to
    its final path exactly once; a second run hands the same files off again without a failure."""
    hosts = [fleet.hosts[name] for name in HOSTS]
    export = tmp_path / "nightly.csv"
    export.write_bytes(os.urandom(64 * 1024))
    with scratch_dir(hosts, DATA_DIR, "mitogen-playbook") as root:
        files = [{"src": str(export), "dest": f"{root}/app/nightly.csv", "mode": "0640"},
                 {"content": "{{ inventory_hostname }} settings\n", "dest": f"{root}/app/settings.conf"}]
        extra_vars = {"handoff_hosts": ":".join(HOSTS), "handoff_files": files, "handoff_incoming_dir": f"{root}/inbox"}
        runs = [mitogen_run("lockstep.handoff.handoff", extra_vars=extra_vars), mitogen_run("lockstep.handoff.handoff", extra_vars=extra_vars)]
        delivered = {host.name: (host.read_bytes(f"{root}/app/nightly.csv"),
                                 host.read_bytes(f"{root}/app/settings.conf"),
                                 host.run(f"ls -A {root}/inbox").stdout.split()) for host in hosts}
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in HOSTS:
        assert runs[0].recap[name]["failed"] == 0 and runs[0].recap[name]["changed"] >= 2, runs[0].recap
        nightly, settings, inbox = delivered[name]
        assert nightly == export.read_bytes()
        assert settings == f"{name} settings\n".encode()
        assert [entry for entry in inbox if not entry.endswith(".lock")] == [], inbox


REDIS_LEASE = """
- name: A command under a Redis lease, then a look at the interpreter
  hosts: h1:h2:h3
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Command under a flock, after which Mitogen has set up what it keeps for the play
      lockstep.handoff.locked_command:
        argv: [sh, -c, "echo $PPID"]
        lock_path: "{{ root }}/warm-up.lock"
    - name: State before the lease
      interpreter_state:
    - name: Command under the lease
      lockstep.handoff.locked_command:
        argv: [sh, -c, "echo $PPID"]
        lock_type: redis
        lock_path: mitogen/critical
        lock_timeout: 60
    - name: State after the lease
      interpreter_state:
"""


def test_redis_lease_under_mitogen_leaves_no_renewal_thread_or_connection(fleet, mitogen_run, redis_server, tmp_path):
    """Invariant: under mitogen_linear a command run under a Redis lease releases it, and the interpreter the
    module ran in keeps no lease-renewal thread and no connection (its count of sockets is as before)."""
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([fleet.hosts[name] for name in HOSTS], DATA_DIR, "mitogen-redis") as root:
        run = mitogen_run(REDIS_LEASE, extra_vars={"redis_env": redis_server.env(), "root": root}, env=log.env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in HOSTS:
        start = log.one("State before the lease", name)["result"]
        after = log.one("State after the lease", name)["result"]
        assert int(log.one("Command under the lease", name)["result"]["stdout"]) == start["pid"] == after["pid"]
        assert after["threads"] == start["threads"]
        sockets = [sum(target.startswith("socket:") for target in state["descriptors"].values())
                   for state in (start, after)]
        assert sockets[0] == sockets[1], (start["descriptors"], after["descriptors"])
    assert redis_server.command("KEYS", "*lock:*") == [], "every lease must be released"
