# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deliver role on real hosts: check mode changes nothing, a run publishes, a rerun is a no-op."""

from __future__ import annotations

import hashlib
import json
import re

HOSTS = ("r1", "r2")


def controller_tree(tmp_path):
    """A directory on the controller: a file, and a hidden file in a subdirectory."""
    tree = tmp_path / "conf.d"
    (tree / "sub").mkdir(parents=True)
    (tree / "site.conf").write_text("server { listen 80; }\n")
    (tree / "sub" / ".extra.conf").write_bytes(b"\x00binary, hidden, one level down\xff" * 1000)
    return tree


def expected_files(workspace, tree):
    """dest path -> bytes that every host must end up with."""
    files = {f"{workspace}/conf.d/{p.relative_to(tree)}": p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    files[f"{workspace}/inbox/RELEASE"] = b"release=1.4.2\n"
    return files


def marker_of(host, dest):
    """The parsed marker of ``dest`` in the .handoff state directory beside it."""
    directory, name = dest.rsplit("/", 1)
    return json.loads(host.read_bytes(f"{directory}/.handoff/{name}.done"))


def summary_of(stdout, host):
    """The role's summary of ``host``, from the debug task's output."""
    printed = re.search(r"^ok: \[%s\] => (\{\n.*?\n\})$" % host, stdout.split("Deliver | Summary", 1)[1], re.M | re.S)
    return json.loads(printed.group(1))["msg"]


def test_deliver_check_mode_then_real_run_then_idempotent(role_fleet, play, workspace, tmp_path):
    tree = controller_tree(tmp_path)
    extra_vars = {
        "handoff_deliver_files": [
            {"src": f"{tree}/", "dest": f"{workspace}/conf.d", "mode": "0640"},
            {"content": "release=1.4.2\n", "dest": f"{workspace}/inbox/RELEASE"},
        ],
        "handoff_deliver_state_dir": ".handoff",
        "handoff_deliver_throttle": 2,
    }
    expected = expected_files(workspace, tree)

    checked = play("lockstep.handoff.deliver", "--check", extra_vars=extra_vars)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(checked.recap[h]["changed"] > 0 for h in HOSTS), checked.stdout
    assert not any(role_fleet.hosts[h].exists(workspace) for h in HOSTS), "check mode wrote to a host"

    first = play("lockstep.handoff.deliver", extra_vars=extra_vars)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in HOSTS:
        host = role_fleet.hosts[name]
        for dest, data in expected.items():
            assert host.read_bytes(dest) == data, (name, dest)
            marker = marker_of(host, dest)
            assert (marker["state"], marker["size"]) == ("complete", len(data))
            assert marker["sha256"] == hashlib.sha256(data).hexdigest()
        # Markers and locks stay out of the glob-read directory, and no temp is left behind.
        assert host.run(f"ls -A {workspace}/conf.d").stdout.split() == [".handoff", "site.conf", "sub"]
        assert host.run(f"stat -c %a {workspace}/conf.d/sub/.extra.conf").stdout.strip() == "640"
        assert host.run(f"find {workspace} -name '*.tmp'").stdout == ""
    summaries = [summary_of(first.stdout, h) for h in HOSTS]
    for summary in summaries:
        assert summary["bytes_sent"] > 0 and summary["transferred"] > 0, summary
        # A few KiB: the rate may round to 0.0 MiB/s; a float either way, never a division error.
        assert isinstance(summary["throughput_mib_s"], float) and summary["throughput_mib_s"] >= 0, summary
        assert summary["send_seconds"] >= 0, summary
        # A few small files travel inside the upload's one module run.
        assert summary["transfer_paths"] == ["inline"], summary
        assert summary["elapsed"] > 0 and summary["ssh_compression"] in (True, False), summary

    again = play("lockstep.handoff.deliver", extra_vars=extra_vars)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(again.recap[h]["changed"] == 0 for h in HOSTS), again.stdout
    assert '"transferred": 0' in again.stdout
    for name, first_summary in zip(HOSTS, summaries):
        summary = summary_of(again.stdout, name)
        # Unchanged, the files still travel inside the one module run (it costs no extra round trip), and none moves.
        assert (summary["transferred"], summary["changed"], summary["transfer_paths"]) == (0, 0, ["inline"]), summary
        assert summary["bytes_sent"] == first_summary["bytes_sent"], summary


def test_bad_entry_is_refused_before_anything_is_sent(role_fleet, play, workspace):
    run = play("lockstep.handoff.deliver",
               extra_vars={"handoff_deliver_files": [{"src": "x", "content": "y", "dest": f"{workspace}/f"}]})
    assert run.returncode != 0
    assert "mutually exclusive" in run.stdout, run.stdout
    assert not role_fleet.hosts["r1"].exists(workspace)
