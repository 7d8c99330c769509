# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Many small files to a few or many hosts: atomic_upload of a directory vs copy, synchronize and tar.

atomic_upload with a directory ``src`` publishes the whole set in three steps
per host whatever the file count: one probe module run (which files differ),
one tar of the changed files, one publish module run (one manifest marker);
unchanged, the probe only. A set of 1 MiB or less takes one module run that
carries every file, probes and publishes what changed. ``copy`` of a directory works file by file (a
``stat`` and a ``copy`` module run per changed file). ``ansible.posix.synchronize``
runs one rsync over ssh per host from the controller; ``bench/run`` extracts
that collection from the ``ansible`` package (requirements/bench-collections.txt)
and names it in LOCKSTEP_BENCH_COLLECTIONS, and without it the case says it
was not run. The floor is one ``tar | ssh tar`` pipeline per host, started in
parallel: no checks at all.

The points are the profile's (files, hosts) pairs. ``copy`` costs minutes per
run, so it runs at the first point with ``copy_runs`` repetitions and at a
larger one only when its per-file cost measured there predicts a run within
COPY_RUN_BUDGET; the report names the points it skipped and the prediction.

Module runs per host are counted at the first point from ``-vvv`` output of
untimed runs (the warm-up that creates the state for the changed re-runs, and
one extra unchanged run), so the report states them instead of assuming them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.cases.large_file import rotated
from bench.context import Context
from bench.data import random_tree
from bench.model import CaseResult, Row, Series, Target
from bench.playbook import CHANGED, UNCHANGED, Playbook, module_runs
from bench.shell import pipeline, timed_parallel
from tests.fleet.harness import DATA_DIR
from tests.support.ansible_run import COLLECTIONS_PATH

KEY = "small_files"
FILE_SIZE = 2048
COPY_RUN_BUDGET = 180.0
COLLECTIONS_ENV = "LOCKSTEP_BENCH_COLLECTIONS"
LABELS = {"ours": "atomic_upload (directory)", "copy": "copy (directory)", "synchronize": "synchronize",
          "floor": "tar | ssh tar"}
TARGETS = {"changed": Target("≤ 0.1× copy", 0.1), "unchanged": Target("≤ 0.05× copy", 0.05)}
SCENARIOS = ("changed", "unchanged")

OURS = """\
- name: Bench | Publish a directory as one set
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Bench | Publish every file, one manifest
      lockstep.handoff.atomic_upload:
        src: "{{ src }}/"
        dest: "{{ dest }}"
"""

COPY = """\
- name: Bench | Copy a directory
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Bench | Copy its files
      ansible.builtin.copy:
        src: "{{ src }}/"
        dest: "{{ dest }}/"
"""

SYNCHRONIZE = """\
- name: Bench | Synchronize a directory
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Bench | rsync its files over ssh
      ansible.posix.synchronize:
        src: "{{ src }}/"
        dest: "{{ dest }}/"
        use_ssh_args: true
"""


def posix_collections() -> str | None:
    """The collections path holding ansible.posix, or None when bench/run could not install it."""
    path = os.environ.get(COLLECTIONS_ENV)
    if path and (Path(path) / "ansible_collections" / "ansible" / "posix").is_dir():
        return path
    return None


class SmallFiles:
    """Sends a directory to the first ``hosts`` hosts in each tool's way; keeps samples and module counts."""

    def __init__(self, ctx: Context, plays: dict, files: int, hosts: int):
        self.ctx = ctx
        self.plays = plays
        self.files = files
        self.hosts = [ctx.host(i) for i in range(1, hosts + 1)]
        self.targets = ctx.host_pattern(hosts)
        self.series: dict[tuple[str, str], Series] = {}
        self.counts: dict[tuple[str, str], dict] = {}

    @property
    def name(self) -> str:
        """How the report names this point."""
        return f"{self.files} × 2 KB to {len(self.hosts)} hosts"

    def directory(self, tool: str) -> str:
        """Each tool fills a directory of its own on every host."""
        return f"{DATA_DIR}/small/{tool}"

    def send(self, tool: str, src: str, expect: str | None = None, count_as: str | None = None) -> float:
        """Send the directory ``src`` to every host; with ``count_as``, run verbosely and count modules."""
        if tool == "floor":
            return self.floor(src)
        play, env = self.plays[tool]
        timing = play.run({"src": src, "dest": self.directory(tool), "targets": self.targets}, env=env,
                          expect=expect, verbose=count_as is not None)
        if count_as:
            self.counts[(tool, count_as)] = dict(module_runs(timing.stdout, self.hosts[0].address))
        return timing.wall

    def floor(self, src: str) -> float:
        """One ``tar | ssh tar`` per host, all hosts at once."""
        return timed_parallel([pipeline(["tar", "-C", src, "-cf", "-", "."],
                                        self.ctx.remote(host, f"tar -xf - -C {self.directory('floor')}"))
                               for host in self.hosts])

    def record(self, scenario: str, tool: str, seconds: float) -> None:
        """Keep one sample."""
        self.series.setdefault((scenario, tool), Series(LABELS[tool], "s")).samples.append(seconds)

    def measure(self, versions: tuple[str, str], runs: dict[str, int], count: bool) -> None:
        """Warm-up (counted when ``count``), changed re-runs (versions take turns), unchanged re-runs.

        ``runs`` gives each tool's repetitions; within a repetition the tools take turns, so a tool
        with fewer of them is still measured beside the others.
        """
        tools = tuple(runs)
        counted = tuple(tool for tool in tools if count and tool in ("ours", "copy"))
        for host in self.hosts:
            for tool in tools:
                self.ctx.reset_dir(host, self.directory(tool))
        for tool in tools:
            self.send(tool, versions[1], CHANGED if tool != "floor" else None,
                      count_as="changed" if tool in counted else None)
        last = {tool: versions[(runs[tool] - 1) % 2] for tool in tools}
        for scenario in SCENARIOS:
            for turn in range(max(runs.values())):
                for tool in rotated(tuple(tool for tool in tools if runs[tool] > turn), turn):
                    src = versions[turn % 2] if scenario == "changed" else last[tool]
                    expect = None if tool == "floor" else CHANGED if scenario == "changed" else UNCHANGED
                    self.record(scenario, tool, self.send(tool, src, expect))
        for tool in counted:
            self.send(tool, last[tool], UNCHANGED, count_as="unchanged")
        for host in self.hosts:
            for tool in tools:
                self.ctx.reset_dir(host, self.directory(tool))

    def median(self, scenario: str, tool: str) -> float | None:
        """The median wall time of ``tool`` here, or None when it was not run at this point."""
        series = self.series.get((scenario, tool))
        return series.value if series else None


def _count_text(counts: dict) -> str:
    """``{'stat': 20, 'copy': 20}`` as ``40 (20 stat + 20 copy)``."""
    parts = " + ".join(f"{number} {module}" for module, number in sorted(counts.items()))
    return f"{sum(counts.values())} ({parts})" if counts else "0"


def _count_table(base: SmallFiles) -> str:
    """Module runs per host at the first point, and the wall per module run they imply."""
    lines = ["| tool | scenario | module runs per host | wall (median) | wall per module run |",
             "|---|---|---|---|---|"]
    for scenario in SCENARIOS:
        for tool in ("ours", "copy"):
            counts = base.counts[(tool, scenario)]
            wall = base.median(scenario, tool)
            per_run = f"{wall / sum(counts.values()) * 1000:.0f} ms" if counts else "—"
            lines.append(f"| {LABELS[tool]} | {scenario} | {_count_text(counts)} | {wall:.2f} s | {per_run} |")
    return "\n".join(lines)


def _per_file_host(base: SmallFiles, scenario: str) -> float:
    """copy's wall time per file per host at the first point: what its runs elsewhere are predicted from."""
    return base.median(scenario, "copy") / (base.files * len(base.hosts))


def _copy_note(points: list[SmallFiles], ctx: Context) -> str:
    """Where copy ran, with how many repetitions, and where it did not, with the predicted cost."""
    base = points[0]
    per_file = {scenario: _per_file_host(base, scenario) for scenario in SCENARIOS}
    ran = [f"{point.name} ({ctx.profile.copy_runs if point is base else 1} run(s) per scenario)"
           for point in points if point.median("changed", "copy") is not None]
    skipped = [f"{point.name}: about {per_file['changed'] * point.files * len(point.hosts):.0f} s changed and "
               f"{per_file['unchanged'] * point.files * len(point.hosts):.0f} s unchanged per run"
               for point in points if point.median("changed", "copy") is None]
    fewer = (f" - fewer repetitions than the other tools ({ctx.profile.runs} at {base.name}, "
             f"{ctx.profile.small_point_runs} elsewhere), because each of its runs costs minutes"
             if ctx.profile.copy_runs < ctx.profile.runs else "")
    text = (f"**Where copy ran.** `copy` was run at {'; '.join(ran)}{fewer}. "
            f"At {base.name} it took {per_file['changed'] * 1000:.0f} ms (changed) and "
            f"{per_file['unchanged'] * 1000:.0f} ms (unchanged) per file per host: two module runs per file, "
            "host after host as forks allow, on a controller with 2 cores.")
    if skipped:
        text += (" It was **not run** at " + "; ".join(skipped) + " - predicted from that per-file cost "
                 "(linear in files × hosts, as on this CPU-bound controller), over the "
                 f"{COPY_RUN_BUDGET:.0f} s a changed run may take in this bench. The rows for those points "
                 "compare ours with synchronize and the floor only.")
    return text


def _notes(points: list[SmallFiles], ctx: Context, synchronize: bool, elapsed: float) -> list[str]:
    """Module-run counts, where each tool ran, the cost per run, what sets the floor."""
    base = points[0]
    overhead = ctx.playbook_overhead
    floor = base.median("changed", "floor")
    sync_text = ("`ansible.posix.synchronize` (`use_ssh_args: true`, so rsync's ssh gets the inventory's "
                 "options) runs rsync in archive mode from the controller, one per host; rsync skips files "
                 "whose size and mtime match, so an unchanged run sends nothing and needs no module on the host."
                 if synchronize else
                 f"`ansible.posix.synchronize` was **not run**: ${COLLECTIONS_ENV} names no ansible.posix "
                 "(bench/run installs it from requirements/bench-collections.txt; run the bench through it).")
    return [
        f"Points: {', '.join(point.name for point in points)}; files of {FILE_SIZE} bytes. Ours, synchronize "
        f"and the floor ran {ctx.profile.runs} times per scenario at {base.name} and "
        f"{ctx.profile.small_point_runs} times at the other points (medians). Module runs are counted on "
        f"{base.hosts[0].name} at {base.name} from `-vvv` output (ssh `EXEC` of an `AnsiballZ_*.py`). The "
        f"whole case took {elapsed / 60:.1f} min.",
        _count_table(base),
        _copy_note(points, ctx),
        "**How the directory mode works.** `src` is a directory, so the action plugin hashes every file on "
        "the controller and runs one `probe` per host with the list (path, size, sha256); the host answers "
        "which files differ (reading a file only when its size matches and its manifest entry does not "
        "already name other bytes). The changed files go as one uncompressed tar straight into a temp file "
        "inside dest, and one `publish` checks every member, writes each file through its own temp "
        "(fsync, rename) and the manifest `DEST.done` last. Changed: 2 module runs and 1 transfer per "
        "host; unchanged: 1 module run and nothing sent, whatever the number of files. A set of 1 MiB "
        "or less (500 files of 2 KB are 1000 KiB) takes a single module run instead, changed or not: "
        "every file travels inside it (the tar, base64 in the module's arguments), and it probes, then "
        "publishes what changed. `copy` makes 2 "
        "module runs per changed file and 2 per unchanged file (`stat`, then `copy` or `file`). " + sync_text,
        f"**The floor.** One `tar | ssh tar` per host in parallel took {floor:.2f} s (changed, {base.name}) - "
        "it checks nothing and skips nothing. Ours adds to it what every Ansible run costs: "
        f"ansible-playbook itself ({overhead:.2f} s for a no-op play here) and, per host, one module run "
        "(a set of 1 MiB or less, its files inside) or two (each an AnsiballZ upload, exec and clean-up "
        "over ssh). That fixed part does not grow with the "
        "file count, so the ratio to `copy` keeps falling as the directory grows; against the floor it "
        "cannot drop below the playbook's own start-up.",
    ]


def _rows(points: list[SmallFiles]) -> list[Row]:
    """Per point and scenario: ours vs copy (the issue's targets, where copy ran), synchronize and the floor."""
    rows = []
    for point in points:
        for scenario in SCENARIOS:
            ours = point.series[(scenario, "ours")]
            case = f"{point.name}, {scenario}"
            for tool in ("copy", "synchronize", "floor"):
                if (scenario, tool) in point.series:
                    rows.append(Row(case, ours, point.series[(scenario, tool)],
                                    TARGETS[scenario] if tool == "copy" else None))
    return rows


def _copy_fits(base: SmallFiles, files: int, hosts: int) -> bool:
    """Whether a changed copy run at (files, hosts) is predicted to stay within COPY_RUN_BUDGET."""
    return _per_file_host(base, "changed") * files * hosts <= COPY_RUN_BUDGET


def _versions(ctx: Context, files: int, hosts: int) -> tuple[str, str]:
    """Two trees of ``files`` random files; b's mtimes are later than a's, as a real change would have them."""
    versions = []
    for age, version in ((200, "a"), (100, "b")):
        tree = random_tree(ctx.workdir / f"small-{files}x{hosts}-{version}", files, FILE_SIZE)
        stamp = time.time() - age
        for path in tree.iterdir():
            os.utime(path, (stamp, stamp))
        versions.append(str(tree))
    return versions[0], versions[1]


def run(ctx: Context) -> CaseResult:
    """Measure changed and unchanged sends of directories of small files at every point of the profile."""
    started = time.monotonic()
    profile = ctx.profile
    collections = posix_collections()
    plays = {"ours": (Playbook(ctx, "small-ours", OURS), None), "copy": (Playbook(ctx, "small-copy", COPY), None)}
    if collections:
        plays["synchronize"] = (Playbook(ctx, "small-synchronize", SYNCHRONIZE),
                                {"ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS_PATH}:{collections}"})
    others = ("ours", "synchronize", "floor") if collections else ("ours", "floor")
    points = []
    for index, (files, hosts) in enumerate(profile.small_points):
        ctx.log(f"small files: {files} × 2 KB to {hosts} hosts")
        point = SmallFiles(ctx, plays, files, hosts)
        if index == 0:
            runs = {**{tool: profile.runs for tool in others}, "copy": profile.copy_runs}
        else:
            runs = {tool: profile.small_point_runs for tool in others}
            if _copy_fits(points[0], files, hosts):
                runs["copy"] = 1
        point.measure(_versions(ctx, files, hosts), runs, count=index == 0)
        points.append(point)
    base = points[0]
    data = {"files": base.files, "hosts": len(base.hosts),
            "medians": {f"{scenario}/{LABELS[tool]}": series.value
                        for (scenario, tool), series in base.series.items()},
            "points": [{"files": point.files, "hosts": len(point.hosts),
                        "series": [{"scenario": key[0], **series.to_dict()} for key, series in point.series.items()]}
                       for point in points],
            "module_runs": {f"{tool}/{scenario}": counts for (tool, scenario), counts in base.counts.items()}}
    title = "Small files (2 KB): " + ", ".join(point.name for point in points)
    return CaseResult(KEY, title, _rows(points), _notes(points, ctx, bool(collections), time.monotonic() - started),
                      data)
