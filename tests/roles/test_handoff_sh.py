# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""handoff.sh on this machine: the protocol's rules, and markers the module_utils read and write.

These run in a temp dir with no fleet; tests/roles/test_interop.py runs it against the
modules on real hosts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import temps_of
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import READY, observe

HANDOFF_SH = Path(__file__).resolve().parents[2] / "roles" / "agent" / "files" / "handoff.sh"


def handoff(*args, env=None, stdin=b""):
    """Run ``bash handoff.sh ARGS...`` with ``stdin`` bytes; return its exit status and text output."""
    done = subprocess.run(["bash", str(HANDOFF_SH), *map(str, args)], input=stdin, capture_output=True,
                          env={"PATH": "/usr/bin:/bin", "HANDOFF_SLEEP": "0.05", **(env or {})},
                          check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture
def dirs(tmp_path):
    """An inbox and a ready directory, and a 64 KiB source file."""
    (tmp_path / "inbox").mkdir()
    (tmp_path / "ready").mkdir()
    (tmp_path / "src").write_bytes(bytes(range(256)) * 256)
    return tmp_path


def test_publish_writes_the_data_then_a_v1_marker_that_the_modules_accept(dirs):
    data = dirs / "inbox" / "data.bin"
    done = handoff("publish", dirs / "src", data)
    assert done.returncode == 0, done.stderr
    marker = json.loads((dirs / "inbox" / "data.bin.done").read_bytes())
    assert set(marker) == {"protocol", "state", "size", "sha256", "written_at", "producer"}
    assert marker["protocol"] == "lockstep.handoff/1" and marker["state"] == "complete"
    assert marker["size"] == 65536 and marker["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert marker["written_at"].endswith("Z") and marker["producer"].startswith("handoff.sh@")
    assert observe(str(data), str(data) + ".done").status == READY
    assert sorted(p.name for p in (dirs / "inbox").iterdir()) == ["data.bin", "data.bin.done"]


def test_wait_and_move_accept_a_marker_written_by_the_modules(dirs):
    data = dirs / "inbox" / "data.bin"
    data.write_bytes(b"from atomic_upload\n")
    Marker.complete(hashlib.sha256(data.read_bytes()).hexdigest(), data.stat().st_size,
                    'lockstep.handoff.atomic_upload from ctl (task "Publish \\"x\\"") on h1', 3).write(str(data) + ".done")
    assert handoff("wait", data, 0).returncode == 0
    moved = handoff("move", data, dirs / "ready" / "data.bin")
    assert moved.returncode == 0, moved.stderr
    assert (dirs / "ready" / "data.bin").read_bytes() == b"from atomic_upload\n"
    assert not data.exists() and not (dirs / "inbox" / "data.bin.done").exists()
    again = handoff("move", data, dirs / "ready" / "data.bin")
    assert again.returncode == 0
    assert again.stdout.strip() == f"handoff_move: already moved: {data} is absent and {dirs / 'ready' / 'data.bin'} is in place"


def test_wait_refuses_data_that_disagrees_with_its_marker_and_times_out_saying_so(dirs):
    data = dirs / "inbox" / "data.bin"
    assert handoff("publish", dirs / "src", data).returncode == 0
    data.write_bytes(b"changed behind the marker's back")
    done = handoff("wait", data, 0)
    assert done.returncode == 1
    assert "size mismatch" in done.stderr
    moved = handoff("move", data, dirs / "ready" / "data.bin")
    assert moved.returncode == 1 and "not moving" in moved.stderr
    assert data.exists() and not (dirs / "ready" / "data.bin").exists()


def test_empty_legacy_marker_is_complete_unless_a_checksum_is_required(dirs):
    data = dirs / "inbox" / "legacy"
    data.write_bytes(b"x")
    (dirs / "inbox" / "legacy.done").touch()
    assert handoff("wait", data, 0).returncode == 0
    assert handoff("wait", data, 0, env={"HANDOFF_REQUIRE_CHECKSUM": "1"}).returncode == 1


def test_a_failed_marker_ends_the_wait_at_once_with_the_reason(dirs):
    data = dirs / "inbox" / "export.csv"
    data.write_bytes(b"")
    Marker("failed", reason="disk full on the producer").write(str(data) + ".done")
    done = handoff("wait", data, 30)
    assert done.returncode == 3
    assert "disk full on the producer" in done.stderr


def test_publishing_stdin_needs_the_expected_checksum_and_refuses_a_short_stream(dirs):
    data = dirs / "inbox" / "stream.bin"
    full = (dirs / "src").read_bytes()
    assert handoff("publish", "-", data, stdin=full).returncode == 2
    expected = {"HANDOFF_SHA256": hashlib.sha256(full).hexdigest()}
    short = handoff("publish", "-", data, stdin=full[:1000], env=expected)
    assert short.returncode == 1 and "checksum mismatch" in short.stderr
    assert list((dirs / "inbox").iterdir()) == [], "a cut-off stream left a file or a temp behind"
    assert handoff("publish", "-", data, stdin=full, env=expected).returncode == 0
    assert data.read_bytes() == full


def test_move_gives_up_while_another_process_holds_the_flock(dirs):
    data = dirs / "inbox" / "data.bin"
    assert handoff("publish", dirs / "src", data).returncode == 0
    lock = dirs / "ready" / "data.bin.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the lock flock(1) and locked_move take
        done = handoff("move", data, dirs / "ready" / "data.bin", env={"HANDOFF_LOCK_TIMEOUT": "0"})
    assert done.returncode == 1 and f"lock {lock} is held" in done.stderr
    assert data.exists(), "moved while another process held the lock"
    assert handoff("move", data, dirs / "ready" / "data.bin").returncode == 0


def test_state_dir_keeps_markers_and_locks_out_of_the_data_directories(dirs):
    env = {"HANDOFF_STATE_DIR": ".handoff"}
    assert handoff("publish", dirs / "src", dirs / "inbox" / "site.conf", env=env).returncode == 0
    assert handoff("promote-inbox", dirs / "inbox", dirs / "ready", env=env).returncode == 0
    assert sorted(p.name for p in (dirs / "ready").iterdir()) == [".handoff", "site.conf"]
    assert [p.name for p in (dirs / "ready" / ".handoff").iterdir()] == ["site.conf.lock"]
    assert [p.name for p in (dirs / "inbox").iterdir()] == [".handoff"]
    assert list((dirs / "inbox" / ".handoff").iterdir()) == []


def test_republishing_keeps_the_mode_of_the_file_it_replaces(dirs):
    data = dirs / "inbox" / "secret.env"
    data.write_bytes(b"old")
    data.chmod(0o640)
    assert handoff("publish", dirs / "src", data).returncode == 0
    assert data.read_bytes() == (dirs / "src").read_bytes()
    assert data.stat().st_mode & 0o777 == 0o640


def test_a_publisher_killed_mid_write_leaves_a_temp_the_modules_recognise(dirs):
    """SIGKILL skips handoff.sh's clean-up trap; the temp it leaves must carry the modules'
    temp name, so atomic_upload reports it and remove_temps_older_than can remove it."""
    dest = dirs / "inbox" / "data.bin"
    publisher = subprocess.Popen(["bash", str(HANDOFF_SH), "publish", "-", str(dest)], stdin=subprocess.PIPE,
                                 env={"PATH": "/usr/bin:/bin", "HANDOFF_SHA256": "0" * 64}, start_new_session=True)
    try:
        publisher.stdin.write(b"partial data, the rest never comes\n")
        publisher.stdin.flush()
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size for p in (dirs / "inbox").iterdir()):
            assert time.monotonic() < deadline, "handoff.sh wrote no temp file within 10 s"
            time.sleep(0.01)
        os.killpg(publisher.pid, signal.SIGKILL)  # the function's subshell and its cat too
        publisher.wait(10)
    finally:
        publisher.stdin.close()
    (temp,) = temps_of(str(dest))
    assert Path(temp).read_bytes() == b"partial data, the rest never comes\n"
    assert sorted(p.name for p in (dirs / "inbox").iterdir()) == [Path(temp).name]


def test_markers_get_the_data_read_and_write_bits_and_setuid_is_never_kept(dirs):
    secret, script = dirs / "inbox" / "secret.env", dirs / "inbox" / "run.sh"
    secret.write_bytes(b"old")
    secret.chmod(0o600)
    script.write_bytes(b"old")
    script.chmod(0o4755)
    assert handoff("publish", dirs / "src", secret).returncode == 0
    assert handoff("publish", dirs / "src", script).returncode == 0
    modes = {path.name: path.stat().st_mode & 0o7777 for path in (dirs / "inbox").iterdir()}
    assert modes == {"secret.env": 0o600, "secret.env.done": 0o600, "run.sh": 0o755, "run.sh.done": 0o644}


def test_a_lock_that_is_a_fifo_or_symlink_is_refused_at_once(dirs):
    data = dirs / "inbox" / "data.bin"
    assert handoff("publish", dirs / "src", data).returncode == 0
    os.mkfifo(dirs / "ready" / "data.bin.lock")
    done = handoff("move", data, dirs / "ready" / "data.bin")
    assert done.returncode == 2 and "is not a regular file or directory" in done.stderr, done.stderr
    (dirs / "ready" / "data.bin.lock").unlink()
    (dirs / "ready" / "data.bin.lock").symlink_to(dirs / "src")
    done = handoff("move", data, dirs / "ready" / "data.bin")
    assert done.returncode == 2 and "is not a regular file or directory" in done.stderr, done.stderr
    assert data.exists() and not (dirs / "ready" / "data.bin").exists()


def test_a_lock_open_that_blocks_on_a_fifo_swapped_in_is_ended_with_a_message(dirs):
    """The race after the type check: bash's open of a FIFO waits for a writer; the watchdog ends it."""
    fifo = dirs / "swapped-in.lock"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", '. "$1"; _handoff_open_lock handoff_move "$2" shown.lock; echo opened',
                           "bash", str(HANDOFF_SH), str(fifo)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HANDOFF_LOCK_TIMEOUT": "0"}, check=False)
    assert done.returncode == -signal.SIGALRM and done.stdout == "", done
    assert "lock shown.lock did not open within 10s: someone replaced it with a FIFO or device" in done.stderr
    assert 9 < time.monotonic() - started < 30


def test_a_state_dir_that_is_a_symlink_is_refused_and_nothing_is_written_through_it(dirs):
    elsewhere = dirs / "elsewhere"
    elsewhere.mkdir()
    (dirs / "inbox" / ".handoff").symlink_to(elsewhere)
    done = handoff("publish", dirs / "src", dirs / "inbox" / "site.conf", env={"HANDOFF_STATE_DIR": ".handoff"})
    assert done.returncode == 1 and "not a plain directory" in done.stderr, done.stderr
    assert list(elsewhere.iterdir()) == []
    assert not (dirs / "inbox" / "site.conf").exists()


def test_a_src_swapped_after_it_was_judged_is_put_back_and_never_reaches_dest(dirs):
    """The rename goes through a temp beside dest that must be the judged inode: the swapped-in file
    goes back to src and dest is not touched (an attacker who writes only the inbox gains nothing)."""
    judged, swapped = dirs / "inbox" / "data.bin", dirs / "inbox" / "forged"
    judged.write_bytes(b"judged\n")
    judged_id = "%d:%d" % (judged.stat().st_dev, judged.stat().st_ino)
    swapped.write_bytes(b"forged\n")
    os.rename(swapped, judged)
    done = subprocess.run(
        ["bash", "-c", '. "$1"; _handoff_open_dir s "$2"; _handoff_open_dir d "$3"; HANDOFF_DATA_ID=$4; '
         '_handoff_move_same_fs "$s" data.bin "$d" data.bin SRC DEST', "bash", str(HANDOFF_SH),
         str(dirs / "inbox"), str(dirs / "ready"), judged_id],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 1 and "SRC was replaced by someone else" in done.stderr, done
    assert judged.read_bytes() == b"forged\n"
    assert list((dirs / "ready").iterdir()) == []


# handoff.sh's own rename with a consumer (or an attacker) acting the instant the marker lands.
RENAME_THEN = r"""
mv() { command mv "$@" || return; case ${!#} in *.done) eval "$AFTER_MARKER_RENAME" ;; esac; }
export -f mv
exec bash "$0" publish "$1" "$2"
"""


@pytest.mark.parametrize("after, ok", [
    ('rm -f -- "${!#}" "${!#%.done}"', True),
    ('rm -f -- "${!#}"; printf "{}" > "${!#}"', False),
], ids=["a consumer took it at once", "someone replaced the marker"])
def test_publish_accepts_a_marker_consumed_at_once_but_not_one_replaced(dirs, after, ok):
    data = dirs / "inbox" / "data.bin"
    done = subprocess.run(["bash", "-c", RENAME_THEN, str(HANDOFF_SH), str(dirs / "src"), str(data)],
                          capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "AFTER_MARKER_RENAME": after})
    assert (done.returncode == 0) is ok, done.stderr
    if ok:
        assert not data.exists() and not (dirs / "inbox" / "data.bin.done").exists()
    else:
        assert "the marker of %s is not the file handoff.sh renamed there" % data in done.stderr
