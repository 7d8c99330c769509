# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One large file to one host: atomic_upload vs ansible.builtin.copy vs scp + ssh mv + ssh touch.

The raw peer is the seeds' pipeline and the floor: ``scp`` into a temp name,
``ssh mv`` onto the final name, ``ssh touch`` the done marker, each a fresh
ssh connection with the fleet's key. Fresh uploads run at every size; changed
and unchanged re-runs at one size. Tools take turns within each repetition (the
order rotates), so load from other jobs hits all of them alike.

A last pair of runs repeats the largest fresh upload with ansible's ``ssh_args``
minus ``-C``: ansible compresses its ssh connection by default, and random
(or already compressed) data pays for it in CPU without getting smaller.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

from bench.context import Context
from bench.data import random_file
from bench.model import CaseResult, Row, Series, Target
from bench.playbook import CHANGED, UNCHANGED, Playbook
from bench.profiles import MIB
from bench.shell import timed_sequence
from tests.fleet.harness import DATA_DIR, LOGIN_USER

KEY = "large_file"
TOOLS = ("ours", "copy", "raw")
LABELS = {"ours": "atomic_upload", "copy": "copy", "raw": "scp+mv+touch",
          "ours_plain": "atomic_upload, no -C", "copy_plain": "copy, no -C",
          "ours_shared": "atomic_upload, shared 2775 dir (staged)"}
VS_COPY = Target("≤ 0.4× copy", 0.4)
VS_RAW = Target("≤ 1.5× raw", 1.5)
VS_DIRECT = Target("≤ 1.5× direct", 1.5)
NAME = "payload.bin"
PLAIN_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s"

PLAY = """\
- name: Bench | Upload one file
  hosts: h1
  gather_facts: false
  tasks:
    - name: Bench | Upload
      {module}:
        src: "{{{{ src }}}}"
        dest: "{{{{ dest }}}}"
"""

SHARED_PLAY = PLAY.replace("""        dest: "{{ dest }}"
""", """        dest: "{{ dest }}"
      register: upload

    - name: Bench | The bytes went through the private remote tmp, not into the shared directory by name
      ansible.builtin.assert:
        that: upload.transfer_path == 'staged'
""").format(module="lockstep.handoff.atomic_upload")


def rotated(items: tuple[str, ...], turn: int) -> tuple[str, ...]:
    """``items`` starting at position ``turn``: each tool goes first equally often."""
    shift = turn % len(items)
    return items[shift:] + items[:shift]


class LargeFile:
    """Runs the uploads and keeps every sample, keyed by scenario, size and tool."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.host = ctx.host(1)
        self.plays = {"ours": Playbook(ctx, "large-ours", PLAY.format(module="lockstep.handoff.atomic_upload")),
                      "copy": Playbook(ctx, "large-copy", PLAY.format(module="ansible.builtin.copy")),
                      "ours_shared": Playbook(ctx, "large-ours-shared", SHARED_PLAY)}
        self.series: dict[tuple[str, int, str], Series] = {}

    def directory(self, tool: str) -> str:
        """Each tool publishes into a directory of its own on the host."""
        return f"{DATA_DIR}/large/{tool}"

    def reset_shared_dir(self) -> str:
        """An empty group-writable setgid directory (2775), where other users could replace names."""
        directory = self.directory("ours_shared")
        self.ctx.reset_dir(self.host, directory)
        self.host.run(f"chmod 2775 {directory}")
        return directory

    def upload(self, tool: str, src: str, expect: str | None = None, env: dict | None = None,
               extra: dict | None = None) -> float:
        """One upload by ``tool`` (ours, copy or raw); return its wall time."""
        dest = f"{self.directory(tool)}/{NAME}"
        if tool == "raw":
            return self.raw_upload(src, dest)
        return self.plays[tool].run({"src": src, "dest": dest, **(extra or {})}, env=env, expect=expect).wall

    def raw_upload(self, src: str, dest: str) -> float:
        """scp to a temp name, mv it onto dest, touch the marker: three ssh connections."""
        directory, name = dest.rsplit("/", 1)
        temp = f"{directory}/.{name}.tmp"
        target = f"{LOGIN_USER}@{self.host.address}"
        return timed_sequence([[*self.ctx.ssh_argv("scp"), src, f"{target}:{temp}"],
                               self.ctx.remote(self.host, f"mv {temp} {dest}"),
                               self.ctx.remote(self.host, f"touch {dest}.done")])

    def record(self, scenario: str, size_mib: int, tool: str, seconds: float) -> None:
        """Keep one sample."""
        key = (scenario, size_mib, tool)
        self.series.setdefault(key, Series(LABELS[tool], "s")).samples.append(seconds)

    def fresh(self, size_mib: int, src: str) -> None:
        """Uploads into an empty directory: the data is new on the host."""
        for turn in range(self.ctx.profile.runs):
            for tool in rotated(TOOLS, turn):
                self.ctx.reset_dir(self.host, self.directory(tool))
                self.record("fresh", size_mib, tool, self.upload(tool, src, CHANGED if tool != "raw" else None))

    def reruns(self, size_mib: int, versions: tuple[str, str]) -> None:
        """Changed re-runs (two versions take turns), then unchanged ones (the last again)."""
        for tool in TOOLS:
            self.ctx.reset_dir(self.host, self.directory(tool))
            self.upload(tool, versions[1])
        runs = self.ctx.profile.runs
        for turn in range(runs):
            for tool in rotated(TOOLS, turn):
                expect = CHANGED if tool != "raw" else None
                self.record("changed", size_mib, tool, self.upload(tool, versions[turn % 2], expect))
        for turn in range(runs):
            for tool in rotated(TOOLS, turn):
                expect = UNCHANGED if tool != "raw" else None
                self.record("unchanged", size_mib, tool, self.upload(tool, versions[(runs - 1) % 2], expect))

    def shared_directory(self, size_mib: int, src: str) -> None:
        """Fresh uploads into a group-writable directory, which atomic_upload never writes into by name.

        The bytes go to the connection user's private remote tmp first and the
        module copies them into the temp file it holds (``transfer_path:
        staged``): one more local copy on the host than the direct path.
        """
        for turn in range(self.ctx.profile.runs):
            for tool in rotated(("ours", "ours_shared"), turn):
                if tool == "ours_shared":
                    self.reset_shared_dir()
                else:
                    self.ctx.reset_dir(self.host, self.directory(tool))
                self.record("shared", size_mib, tool, self.upload(tool, src, CHANGED))

    def without_compression(self, size_mib: int, src: str) -> None:
        """The fresh upload again with ``-C`` dropped from ansible's ssh_args.

        A control path dir of its own keeps these runs off the compressed ssh
        masters that the other runs left open (ControlPersist).
        """
        control_dir = tempfile.mkdtemp(prefix="bench-cp-", dir="/tmp")
        env = {"ANSIBLE_SSH_ARGS": PLAIN_SSH_ARGS}
        extra = {"ansible_control_path_dir": control_dir}
        try:
            for turn in range(self.ctx.profile.runs):
                for tool in rotated(("ours", "copy"), turn):
                    self.ctx.reset_dir(self.host, self.directory(tool))
                    self.record("fresh", size_mib, f"{tool}_plain", self.upload(tool, src, CHANGED, env, extra))
        finally:
            self.close_masters(control_dir)
            shutil.rmtree(control_dir, ignore_errors=True)

    def close_masters(self, control_dir: str) -> None:
        """Ask the ssh master that ansible left in ``control_dir`` to exit."""
        subprocess.run(["ssh", "-o", f"ControlPath={control_dir}/%C", "-O", "exit",
                        f"{LOGIN_USER}@{self.host.address}"], capture_output=True, check=False)


def _rows(bench: LargeFile, sizes: tuple[int, ...], rerun_size: int) -> list[Row]:
    """ours vs copy and ours vs raw for every measured scenario and size."""
    rows = []
    keys = [("fresh", size) for size in sizes] + [("changed", rerun_size), ("unchanged", rerun_size)]
    for scenario, size in keys:
        ours = bench.series[(scenario, size, "ours")]
        case = f"1 file {size} MiB, {scenario}"
        rows.append(Row(case, ours, bench.series[(scenario, size, "copy")], VS_COPY))
        rows.append(Row(case, ours, bench.series[(scenario, size, "raw")], VS_RAW))
    for size in sorted({rerun_size, sizes[-1]}):
        case = f"1 file {size} MiB, fresh, shared 2775 dir (staged) vs private dir (direct)"
        rows.append(Row(case, bench.series[("shared", size, "ours_shared")], bench.series[("shared", size, "ours")],
                        VS_DIRECT))
    plain = bench.series[("fresh", sizes[-1], "ours_plain")]
    case = f"1 file {sizes[-1]} MiB, fresh, ssh_args without -C"
    rows.append(Row(case, plain, bench.series[("fresh", sizes[-1], "copy_plain")], VS_COPY))
    rows.append(Row(case, plain, bench.series[("fresh", sizes[-1], "raw")], VS_RAW))
    return rows


def _notes(bench: LargeFile, sizes: tuple[int, ...]) -> list[str]:
    """Why the numbers are what they are, with the compression finding in figures."""
    largest = sizes[-1]
    overhead = bench.ctx.playbook_overhead
    smallest_raw = bench.series[("fresh", sizes[0], "raw")].value

    def median(tool: str) -> float:
        return bench.series[("fresh", largest, tool)].value

    def shared(tool: str) -> float:
        return bench.series[("shared", largest, tool)].value

    return [
        "Each atomic_upload run is: hash the source on the controller (sha256), a `probe` module run "
        "(is anything to send? creates the temp file beside dest), the transfer straight into that temp "
        "file, and a `publish` module run (re-hash on the host, fsync, rename, marker). "
        "`copy` runs `stat` (sha1 of dest), sends into `~/.ansible/tmp` (here on another filesystem than "
        "the host's tmpfs), then its module copies it across. The raw pipeline checks nothing.",
        f"**Hotspot: ssh compression.** ansible-core's default `ssh_args` start with `-C`, and "
        "incompressible payloads (archives, images, these random bytes) pay zlib CPU for nothing. "
        "`copy` inherits it; atomic_upload's `transfer_compression=auto` (the default) sends 8 MiB or more "
        "over an ssh master of its own without compression (`plugins/plugin_utils/uncompressed_ssh.py`). "
        f"For {largest} MiB: atomic_upload {median('ours'):.2f} s with the default `ssh_args`, "
        f"{median('ours_plain'):.2f} s with `ssh_args` minus `-C`; copy {median('copy'):.2f} s with, "
        f"{median('copy_plain'):.2f} s without; the raw scp (no `-C`) {median('raw'):.2f} s.",
        f"**Fixed cost.** A no-op ansible-playbook run took {overhead:.2f} s here, "
        f"{overhead / smallest_raw:.1f}× the whole raw pipeline at {sizes[0]} MiB ({smallest_raw:.2f} s): "
        "where that alone is above 1.5×, no Ansible module can meet the raw target. atomic_upload adds two "
        "module runs to it (`probe`, then `publish`, which fsyncs and writes the marker) where the raw "
        "pipeline runs two bare ssh commands, so its floor is the fixed cost plus two module runs plus the "
        "transfer; the raw target becomes reachable only once the transfer outweighs that, and the ratio "
        "to copy is pulled towards 1 because both pay the fixed cost.",
        "Unchanged re-runs: atomic_upload's probe hashes the dest on the host and transfers nothing "
        "(checked: every unchanged run reported `changed=0`); the raw pipeline has no change detection "
        "and sends the whole file again. Changed re-runs: the probe no longer reads the old dest when its "
        "complete marker names other bytes (the marker is written last, so it describes dest), which saves "
        "a full read of the old file per changed upload; the one remaining read on the host is the publish "
        "phase's hash of the received temp file, the check that the bytes arrived intact.",
        f"**Shared directories.** Into a group-writable directory (2775) atomic_upload never lets the "
        "controller write by name, since another member could swap the temp file for a symlink: the bytes "
        "go to the connection user's private remote tmp and the module copies them into the temp file it "
        f"holds open. For {largest} MiB that took {shared('ours_shared'):.2f} s against "
        f"{shared('ours'):.2f} s for the direct path into a private directory in the same turns: the "
        "difference is one more read and write of the file on the host (and, where the remote tmp is on "
        "another filesystem, as here, a copy across filesystems instead of none).",
    ]


def run(ctx: Context) -> CaseResult:
    """Measure every scenario; return rows, notes and the per-size medians for the plot."""
    bench = LargeFile(ctx)
    # The fleet's tmpfs root is group-writable (0775). Below a directory that others may write, atomic_upload
    # never lets the controller write by name and stages the bytes: "private" uploads need a private parent too.
    mode = bench.host.run(f"stat -c %a {DATA_DIR}").stdout.strip()
    bench.host.run(f"chmod 0755 {DATA_DIR}")
    try:
        return _measure(ctx, bench)
    finally:
        bench.host.run(f"chmod {mode} {DATA_DIR}")


def _measure(ctx: Context, bench: LargeFile) -> CaseResult:
    """Every scenario, on a host whose data root only the login user may write."""
    profile = ctx.profile
    sources = {size: str(random_file(ctx.workdir / f"large-{size}.bin", size * MIB))
               for size in profile.large_sizes_mib}
    for size, src in sources.items():
        ctx.log(f"large file: fresh uploads of {size} MiB")
        bench.fresh(size, src)
    rerun = profile.rerun_size_mib
    ctx.log(f"large file: changed and unchanged re-runs of {rerun} MiB")
    versions = tuple(str(random_file(ctx.workdir / f"large-{rerun}-{version}.bin", rerun * MIB))
                     for version in ("a", "b"))
    bench.reruns(rerun, versions)
    for size in sorted({rerun, profile.large_sizes_mib[-1]}):
        ctx.log(f"large file: {size} MiB into a shared directory (staged) and a private one (direct)")
        bench.shared_directory(size, sources.get(size) or versions[0])
    ctx.log(f"large file: {profile.large_sizes_mib[-1]} MiB without ssh compression")
    bench.without_compression(profile.large_sizes_mib[-1], sources[profile.large_sizes_mib[-1]])
    for tool in (*TOOLS, "ours_shared"):
        ctx.reset_dir(bench.host, bench.directory(tool))
    sizes = profile.large_sizes_mib
    data = {"sizes_mib": list(sizes),
            "fresh": {LABELS[tool]: [bench.series[("fresh", size, tool)].samples for size in sizes]
                      for tool in TOOLS},
            "series": [{"scenario": key[0], "size_mib": key[1], **series.to_dict()}
                       for key, series in bench.series.items()]}
    return CaseResult(KEY, f"One large file to one host (h1), sizes {', '.join(map(str, sizes))} MiB",
                      _rows(bench, sizes, rerun), _notes(bench, sizes), data)
