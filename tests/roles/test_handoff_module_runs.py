# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped lockstep.handoff.handoff playbook costs at most 4 module runs per host, whatever it delivers.

One file, 20 files spread over 5 nested directories none of which exists yet (delivered
into 5 nested incoming directories, which do not exist either), and a directory src:
each is delivered into an incoming directory that does not exist yet, then
promoted to its place, its marker removed (the promote role's default) - in the same
number of module runs: two, as the files travel inside the upload's one run; a file
above that limit (INLINE_UP_TO_BYTES) costs a probe and a publish, three in all. At -vvv without pipelining ansible-core logs each module run
as ``SSH: EXEC ... AnsiballZ_<module>.py`` with the host's address, which
``bench.playbook.module_runs`` counts. Check mode on fresh hosts predicts and writes
nothing.
"""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import INLINE_UP_TO_BYTES
from bench.playbook import module_runs
from tests.fleet.harness import run_playbook

HOSTS = ("r1", "r2")
MAX_MODULE_RUNS = 4


def twenty_files(workspace):
    """20 files in 5 nested directories, 4 each, delivered into 5 nested incoming directories of their own."""
    directories = [f"set{number}/level{number}/deeper" for number in range(5)]
    return [{"content": f"file {number}\n" * (number + 1),
             "dest": f"{workspace}/app/{directories[number % 5]}/f{number:02d}.conf",
             "incoming": f"{workspace}/incoming/{directories[number % 5]}/f{number:02d}.conf"}
            for number in range(20)]


def directory_src(tmp_path):
    """A controller directory of three files, one of them hidden and one level down."""
    tree = tmp_path / "conf.d"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.conf").write_text("a = 1\n")
    (tree / "b.conf").write_text("b = 2\n")
    (tree / "sub" / ".c.conf").write_text("c = 3\n")
    return tree


def cases(workspace, tmp_path):
    """name -> (handoff_files, {final path: bytes every host must hold})."""
    tree = directory_src(tmp_path)
    one = [{"content": "release=1\n", "dest": f"{workspace}/app/RELEASE"}]
    twenty = twenty_files(workspace)
    large = tmp_path / "large.bin"
    large.write_bytes(b"L" * (INLINE_UP_TO_BYTES + 1))
    return {
        "a file above the inline limit": (
            [{"src": str(large), "dest": f"{workspace}/app/large.bin"}], {f"{workspace}/app/large.bin": large.read_bytes()}),
        "one file": (one, {one[0]["dest"]: b"release=1\n"}),
        "20 files in 5 nested missing directories": (
            twenty, {item["dest"]: item["content"].encode() for item in twenty}),
        "a directory src": (
            [{"src": str(tree), "dest": f"{workspace}/app/conf.d", "mode": "0640"}],
            {f"{workspace}/app/conf.d/{path.relative_to(tree)}": path.read_bytes()
             for path in tree.rglob("*") if path.is_file()}),
    }


def handoff(role_fleet, workspace, files, *args):
    return run_playbook(role_fleet, "lockstep.handoff.handoff", "-vvv", *args, env={"ANSIBLE_PIPELINING": "False"},
                        extra_vars={"handoff_files": files, "handoff_incoming_dir": f"{workspace}/incoming/x/y"})


# Small files travel inside the upload's one module run; above INLINE_UP_TO_BYTES it takes a probe and a publish.
EXPECTED_RUNS = {"one file": 1, "20 files in 5 nested missing directories": 1, "a directory src": 1,
                 "a file above the inline limit": 2}


@pytest.mark.parametrize("case", list(EXPECTED_RUNS))
def test_the_handoff_playbook_costs_at_most_four_module_runs_per_host(role_fleet, workspace, tmp_path, case):
    files, expected = cases(workspace, tmp_path)[case]

    checked = handoff(role_fleet, workspace, files, "--check")
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr
    assert all(checked.recap[h]["failed"] == 0 and checked.recap[h]["changed"] > 0 for h in HOSTS), checked.stdout
    assert not any(role_fleet.hosts[h].exists(workspace) for h in HOSTS), "check mode wrote on a host"

    run = handoff(role_fleet, workspace, files)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr
    for name in HOSTS:
        host = role_fleet.hosts[name]
        runs = module_runs(run.stdout, host.address)
        assert sum(runs.values()) <= MAX_MODULE_RUNS, f"{name}: {dict(runs)}"
        assert runs == {"atomic_upload": EXPECTED_RUNS[case], "locked_move": 1}, f"{name}: {dict(runs)}"
        for dest, data in expected.items():
            assert host.read_bytes(dest) == data, dest
            assert not host.exists(f"{dest}.done"), f"the marker moved along with {dest}"
        # Only the producers' locks stay (never deleted: a lock in use must not vanish); data and markers are gone.
        leftovers = host.run(f"find {workspace}/incoming -type f ! -name '*.lock'").stdout.split()
        assert leftovers == [], f"{name}: the incoming directory still holds {leftovers}"
