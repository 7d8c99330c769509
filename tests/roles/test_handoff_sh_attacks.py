# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""handoff.sh as root against a real second member of the hand-off directory's group.

The directory is the realistic shared inbox: root-owned, setgid 2775, group G. The attacker
is an account of G, run with ``su``. It swaps handoff.sh's temps for symlinks to a root-only
canary the moment inotify shows them, or plants markers of its own. handoff.sh may fail;
the canary must stay as it was and nothing the attacker planted may be published or moved.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker

REPO = Path(__file__).resolve().parents[2]
HANDOFF_SH = REPO / "roles" / "agent" / "files" / "handoff.sh"
ATTACKER_SCRIPT = REPO / "tests" / "support" / "swap_attacker.py"
GROUP, USER = "lshs-grp", "lshs-atk"
ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HANDOFF_LOCK_TIMEOUT": "5"}
CANARY = b"root-only canary: must never change\n"
PAYLOAD = b"published by root\n" * 1000
RACING_TRIALS = 30


def as_attacker(command, **options):
    """Start ``command`` (sh) as the attacker account."""
    return subprocess.Popen(["su", USER, "-s", "/bin/sh", "-c", command], **options)


@pytest.fixture(scope="module")
def attacker_account():
    """The group G and its member U, made for this module (and removed after it)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root to add the attacker account (CI=true: must run, not skip)")
        pytest.skip("needs root to add the attacker account")
    made = []
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append(["groupdel", GROUP])
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-N", "-g", GROUP, "-s", "/bin/sh", USER], check=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True)
        made.insert(0, ["userdel", USER])
    yield grp.getgrnam(GROUP).gr_gid
    for command in made:
        subprocess.run(command, check=False)


@pytest.fixture
def arena(attacker_account):
    """``shared`` (root:G 2775, the hand-off directory), ``vault`` (root 0700) with the canary and sources."""
    top = Path(tempfile.mkdtemp(prefix="handoff-sh-attack-", dir="/var/tmp"))
    top.chmod(0o755)
    shared, vault = top / "shared", top / "vault"
    shared.mkdir()
    os.chown(shared, 0, attacker_account)
    shared.chmod(0o2775)
    vault.mkdir(mode=0o700)
    canary = vault / "canary"
    canary.write_bytes(CANARY)
    canary.chmod(0o600)
    (vault / "src").write_bytes(PAYLOAD)
    shutil.copy(ATTACKER_SCRIPT, top / "attacker.py")
    (top / "attacker.py").chmod(0o644)
    yield top
    shutil.rmtree(top)


def canary_state(canary):
    info = os.lstat(canary)
    return canary.read_bytes(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_ino


class Attacker:
    """The swap attacker (tests/support/swap_attacker.py) running as U on ``shared``."""

    def __init__(self, top):
        self.proc = as_attacker(f"exec /usr/bin/python3 -u {top}/attacker.py {top}/shared {top}/vault/canary",
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.swapped = threading.Event()
        ready = self.proc.stdout.readline().split()
        assert ready[:1] == ["ready"], "the attacker did not set its inotify watch"
        self.pid = int(ready[1])
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("swapped"):
                self.swapped.set()

    def stop(self):
        os.kill(self.pid, 9)
        self.proc.wait(10)
        self.reader.join(10)

    def count(self, prefix):
        return sum(line.startswith(prefix) for line in self.lines)


@pytest.fixture
def attacker(arena):
    started = Attacker(arena)
    yield started
    started.stop()


def publish(src, dest, **options):
    return subprocess.Popen(["bash", str(HANDOFF_SH), "publish", str(src), str(dest)], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def test_publish_refuses_its_temp_swapped_for_a_symlink_to_a_root_only_file(arena, attacker):
    """Deterministic: the source is a FIFO, so handoff.sh waits for data with its temp created; the
    attacker swaps the temp meanwhile. Today's handoff.sh then hashes, chmods and renames the symlink
    (the canary's mode changes, its content goes into the marker); handoff.sh must refuse instead."""
    canary, dest = arena / "vault" / "canary", arena / "shared" / "report.csv"
    before = canary_state(canary)
    fifo = arena / "vault" / "src.fifo"
    os.mkfifo(fifo, 0o600)
    publisher = publish(fifo, dest)
    try:
        assert attacker.swapped.wait(20), "the attacker never saw handoff.sh's temp: %r" % attacker.lines
        with open(fifo, "wb") as feed:
            feed.write(PAYLOAD)
        out, err = publisher.communicate(timeout=60)
    finally:
        if publisher.poll() is None:
            publisher.kill()
    assert canary_state(canary) == before, "the attacker redirected handoff.sh into the root-only canary"
    assert publisher.returncode == 1, (out, err)
    assert "replaced by someone else" in err, err
    assert not os.path.lexists(dest) and not os.path.lexists(str(dest) + ".done")


def test_publish_racing_an_inotify_attacker_never_touches_the_canary(arena, attacker):
    """Every temp handoff.sh creates (data and marker) is swapped as soon as inotify shows it.
    Each publish must fail or publish exactly the source with a marker that describes it."""
    canary = arena / "vault" / "canary"
    before = canary_state(canary)
    outcomes = {"published": 0, "refused": 0}
    for trial in range(RACING_TRIALS):
        dest = arena / "shared" / f"out{trial}.bin"
        publisher = publish(arena / "vault" / "src", dest)
        out, err = publisher.communicate(timeout=60)
        assert canary_state(canary) == before, f"trial {trial}: the canary changed ({err})"
        if publisher.returncode == 0:
            outcomes["published"] += 1
            assert dest.read_bytes() == PAYLOAD and not dest.is_symlink()
            marker = Marker.read(str(dest) + ".done")
            assert marker.describes(hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))
        else:
            outcomes["refused"] += 1
            assert publisher.returncode == 1 and "someone else" in err, (trial, out, err)
            if os.path.lexists(dest):
                assert not dest.is_symlink() and dest.read_bytes() == PAYLOAD, f"trial {trial}: a wrong dest"
    swaps = attacker.count("swapped")
    print(f"handoff.sh publish vs swap attacker: {RACING_TRIALS} trials, {swaps} swaps landed, {outcomes}, "
          "canary unchanged")
    assert swaps >= RACING_TRIALS // 2, f"too few swaps landed for the race to mean anything: {attacker.lines}"


NESTED = {
    "failed marker with a nested state complete":
        b'{"protocol":"lockstep.handoff/1","state":"failed","reason":"x","extra":{"state":"complete"}}',
    "protocol 2 marker with a nested protocol 1":
        b'{"protocol":"lockstep.handoff/2","state":"complete","x":{"protocol":"lockstep.handoff/1"}}',
}


@pytest.mark.parametrize("content", list(NESTED.values()), ids=list(NESTED))
def test_a_marker_planted_by_another_member_with_a_nested_field_is_not_moved(arena, content):
    shared, ready = arena / "shared", arena / "ready"
    ready.mkdir()
    (arena / "planted.done").write_bytes(content)
    (arena / "planted.done").chmod(0o644)
    planting = as_attacker(f"printf 'forged\\n' > {shared}/order.csv && cat {arena}/planted.done > {shared}/order.csv.done")
    assert planting.wait(30) == 0
    assert os.stat(shared / "order.csv.done").st_uid == pwd.getpwnam(USER).pw_uid
    done = subprocess.run(["bash", str(HANDOFF_SH), "promote-inbox", str(shared), str(ready)], env=ENV,
                          capture_output=True, text=True, timeout=60, check=False)
    assert [p.name for p in ready.iterdir() if not p.name.endswith(".lock")] == [], done.stdout + done.stderr
    assert done.returncode in (1, 3) and "not moving" in done.stderr, done.stderr
    assert (shared / "order.csv").read_bytes() == b"forged\n"
