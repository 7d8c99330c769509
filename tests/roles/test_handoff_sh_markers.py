# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile marker corpus: handoff.sh and the modules' Marker.read give every case its one verdict.

Each case is checked through both readers (the Python one parses, handoff.sh's strict flat
reader parses), then through handoff.sh's wait, move and promote-inbox, which must end in
the verdict's outcome or a clear refusal, never a hang. Hostile kinds of file (symlinks to
root-only files, FIFOs, directories) at the marker's or the data's name are refused too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker, MarkerError
from tests.support.hostile_markers import CASES, DATA, FILE_KINDS, SHA, SIZE, doc, dumps, plant

HANDOFF_SH = Path(__file__).resolve().parents[2] / "roles" / "agent" / "files" / "handoff.sh"
ENV = {"PATH": "/usr/bin:/bin", "HANDOFF_SLEEP": "0.05", "HANDOFF_LOCK_TIMEOUT": "5"}
# Far above any honest run (a 64 KiB marker parses in well under a second): past it, a reader hangs.
SECONDS = 30
READ_WITH_HANDOFF_SH = """
. "$1"
_handoff_read_marker "$2"
printf '%s\\n%s\\n%s\\n%s\\n%s\\n' "$?" "$HANDOFF_M_STATE" "$HANDOFF_M_SHA256" "$HANDOFF_M_SIZE" "$HANDOFF_REASON"
"""


def expected(case):
    """(verdict, sha256, size) as a reader must report the case; only complete markers carry a checksum."""
    if case.verdict == "complete":
        return case.verdict, case.sha256, case.size
    return case.verdict, None, None


def python_verdict(path):
    try:
        marker = Marker.read(str(path))
    except MarkerError:
        return "invalid", None, None
    if marker.state != "complete":
        return marker.state, None, None
    return marker.state, marker.sha256, marker.size


def shell_verdict(path):
    """(verdict, sha256, size, reason) from handoff.sh's own marker reader, sourced as a library."""
    done = subprocess.run(["bash", "-c", READ_WITH_HANDOFF_SH, "bash", str(HANDOFF_SH), str(path)],
                          capture_output=True, text=True, env=ENV, timeout=SECONDS, check=False)
    status, state, sha256, size, reason = done.stdout.split("\n")[:5]
    assert not done.stderr, done.stderr
    if status != "0":
        return "invalid", None, None, reason
    if state != "complete":
        return state, None, None, reason
    return state, sha256 or None, int(size) if size else None, reason


def handoff(*args):
    return subprocess.run(["bash", str(HANDOFF_SH), *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=SECONDS, check=False)


CORPUS = [pytest.param(case, id=case.name) for case in CASES]
EXIT_STATUS = {"complete": 0, "invalid": 1, "failed": 3}


@pytest.mark.parametrize("case", CORPUS)
def test_the_modules_marker_reader_gives_the_corpus_verdict(tmp_path, case):
    path = tmp_path / "x.done"
    path.write_bytes(case.content)
    assert python_verdict(path) == expected(case)


@pytest.mark.parametrize("case", CORPUS)
def test_handoff_sh_marker_reader_gives_the_corpus_verdict(tmp_path, case):
    path = tmp_path / "x.done"
    path.write_bytes(case.content)
    verdict, sha256, size, reason = shell_verdict(path)
    assert (verdict, sha256, size) == expected(case), reason
    if verdict == "invalid":
        assert str(path) in reason, "the refusal does not name the marker"


@pytest.mark.parametrize("case", CORPUS)
def test_handoff_sh_wait_and_move_end_in_the_verdict(tmp_path, case):
    inbox, ready = tmp_path / "in", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    data = inbox / "x.dat"
    data.write_bytes(case.data)
    (inbox / "x.dat.done").write_bytes(case.content)
    waited = handoff("wait", data, 0)
    assert waited.returncode == EXIT_STATUS[case.verdict], waited.stderr
    moved = handoff("move", data, ready / "x.dat")
    assert moved.returncode == EXIT_STATUS[case.verdict], moved.stderr
    if case.verdict == "complete":
        assert (ready / "x.dat").read_bytes() == case.data
        assert sorted(p.name for p in inbox.iterdir()) == []
    else:
        assert "not moving" in moved.stderr
        assert data.read_bytes() == case.data and not (ready / "x.dat").exists()


def test_one_hostile_marker_in_a_promoted_inbox_does_not_stop_the_others(tmp_path):
    inbox, ready = tmp_path / "in", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    names = {}
    for number, case in enumerate(CASES):
        name = "f%03d.dat" % number
        names[name] = case
        (inbox / name).write_bytes(case.data)
        (inbox / (name + ".done")).write_bytes(case.content)
    done = handoff("promote-inbox", inbox, ready)
    assert done.returncode == 1, done.stderr
    moved = {name for name, case in names.items() if case.verdict == "complete"}
    assert {p.name for p in ready.iterdir() if not p.name.endswith(".lock")} == moved
    assert {p.name for p in inbox.iterdir() if not p.name.endswith(".done")} == set(names) - moved
    for name in moved:
        assert (ready / name).read_bytes() == names[name].data


def test_a_valid_manifest_is_refused_by_handoff_sh_saying_it_does_not_support_them(tmp_path):
    from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry
    path = tmp_path / "set.done"
    Marker.complete_set([FileEntry("a.csv", SIZE, SHA)], "test", 1).write(str(path))
    assert Marker.read(str(path)).is_manifest
    verdict = shell_verdict(path)
    assert verdict[0] == "invalid"
    assert "manifest markers are not supported by handoff.sh" in verdict[3]


@pytest.fixture
def secrets(tmp_path):
    """A root-only complete marker for DATA and a root-only copy of DATA, outside the hand-off directory."""
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    marker, data = vault / "secret.done", vault / "secret.dat"
    marker.write_bytes(dumps(doc()))
    data.write_bytes(DATA)
    for path in (marker, data):
        path.chmod(0o600)
    return marker, data


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_hostile_kinds_of_file_are_refused_by_both_readers_at_once(tmp_path, secrets, kind):
    inbox, ready = tmp_path / "in", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    data, marker = inbox / "x.dat", inbox / "x.dat.done"
    plant(kind, data, marker, *secrets)
    if kind.endswith("marker"):
        with pytest.raises(MarkerError, match="regular file"):
            Marker.read(str(marker))
        assert shell_verdict(marker)[0] == "invalid"
    waited = handoff("wait", data, 0)
    assert waited.returncode == 1 and "not a regular file" in waited.stderr, waited.stderr
    moved = handoff("move", data, ready / "x.dat")
    assert moved.returncode == 1 and "not moving" in moved.stderr, moved.stderr
    promoted = handoff("promote-inbox", inbox, ready)
    assert promoted.returncode in (0, 1), promoted.stderr
    assert [p.name for p in ready.iterdir() if not p.name.endswith(".lock")] == []
    assert os.path.lexists(data) and os.path.lexists(marker)
    assert [p.read_bytes() for p in secrets] == [dumps(doc()), DATA]
