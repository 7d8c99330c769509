"""Many small files to a few hosts: atomic_upload of a directory vs ansible.builtin.copy of a directory.

atomic_upload with a directory ``src`` publishes the whole set in three steps
per host whatever the file count: one probe module run (which files differ),
one tar of the changed files, one publish module run (one manifest marker);
unchanged, the probe only. ``copy`` of a directory works file by file (a
``stat`` and a ``copy`` module run per changed file). The floor is one
``tar | ssh tar`` pipeline per host, started in parallel: no checks at all. ``ansible.posix.synchronize`` is left out: it comes
only with the ``ansible`` package (Galaxy is unreachable here) and is not a
controller requirement of this project.

Module runs per host are counted from ``-vvv`` output of untimed runs (the
warm-up that creates the state for the changed re-runs, and one extra
unchanged run), so the report states them instead of assuming them.
"""

from __future__ import annotations

from bench.cases.large_file import rotated
from bench.context import Context
from bench.data import random_tree
from bench.model import CaseResult, Row, Series, Target
from bench.playbook import CHANGED, UNCHANGED, Playbook, module_runs
from bench.shell import pipeline, timed_parallel
from tests.fleet.harness import DATA_DIR

KEY = "small_files"
FILE_SIZE = 2048
TOOLS = ("ours", "copy", "floor")
LABELS = {"ours": "atomic_upload (directory)", "copy": "copy (directory)", "floor": "tar | ssh tar"}
TARGETS = {"changed": Target("≤ 0.1× copy", 0.1), "unchanged": Target("≤ 0.05× copy", 0.05)}

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


class SmallFiles:
    """Runs the three ways of sending a directory and keeps samples and module counts."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.hosts = [ctx.host(i) for i in range(1, ctx.profile.small_hosts + 1)]
        self.targets = ctx.host_pattern(len(self.hosts))
        self.plays = {"ours": Playbook(ctx, "small-ours", OURS), "copy": Playbook(ctx, "small-copy", COPY)}
        self.series: dict[tuple[str, str], Series] = {}
        self.counts: dict[tuple[str, str], dict] = {}

    def directory(self, tool: str) -> str:
        """Each tool fills a directory of its own on every host."""
        return f"{DATA_DIR}/small/{tool}"

    def send(self, tool: str, src: str, expect: str | None = None, count_as: str | None = None) -> float:
        """Send the directory ``src`` to every host; with ``count_as``, run verbosely and count modules."""
        if tool == "floor":
            return self.floor(src)
        timing = self.plays[tool].run({"src": src, "dest": self.directory(tool), "targets": self.targets},
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

    def measure(self, versions: tuple[str, str]) -> None:
        """Warm-up (counted), changed re-runs (versions take turns), unchanged re-runs, counted once more."""
        for host in self.hosts:
            for tool in TOOLS:
                self.ctx.reset_dir(host, self.directory(tool))
        for tool in TOOLS:
            self.send(tool, versions[1], CHANGED if tool != "floor" else None, count_as="changed")
        runs = self.ctx.profile.runs
        for turn in range(runs):
            for tool in rotated(TOOLS, turn):
                expect = CHANGED if tool != "floor" else None
                self.record("changed", tool, self.send(tool, versions[turn % 2], expect))
        last = versions[(runs - 1) % 2]
        for turn in range(runs):
            for tool in rotated(TOOLS, turn):
                expect = UNCHANGED if tool != "floor" else None
                self.record("unchanged", tool, self.send(tool, last, expect))
        for tool in ("ours", "copy"):
            self.send(tool, last, UNCHANGED, count_as="unchanged")


def _count_text(counts: dict) -> str:
    """``{'stat': 20, 'copy': 20}`` as ``40 (20 stat + 20 copy)``."""
    parts = " + ".join(f"{number} {module}" for module, number in sorted(counts.items()))
    return f"{sum(counts.values())} ({parts})" if counts else "0"


def _notes(bench: SmallFiles, files: int) -> list[str]:
    """Module-run counts, the cost per run, what sets the floor."""
    lines = ["| tool | scenario | module runs per host | wall (median) | wall per module run |",
             "|---|---|---|---|---|"]
    for scenario in ("changed", "unchanged"):
        for tool in ("ours", "copy"):
            counts = bench.counts[(tool, scenario)]
            wall = bench.series[(scenario, tool)].value
            per_run = f"{wall / sum(counts.values()) * 1000:.0f} ms" if counts else "—"
            lines.append(f"| {LABELS[tool]} | {scenario} | {_count_text(counts)} | {wall:.2f} s | {per_run} |")

    def median(scenario: str, tool: str) -> float:
        return bench.series[(scenario, tool)].value

    overhead = bench.ctx.playbook_overhead
    return [
        f"{files} files of {FILE_SIZE} bytes to {len(bench.hosts)} hosts "
        f"({', '.join(h.name for h in bench.hosts)}). Module runs are counted on {bench.hosts[0].name} "
        "from `-vvv` output (ssh `EXEC` of an `AnsiballZ_*.py`).",
        "\n".join(lines),
        "**How the directory mode works.** `src` is a directory, so the action plugin hashes every file on "
        "the controller and runs one `probe` per host with the list (path, size, sha256); the host answers "
        "which files differ (reading a file only when its size matches and its manifest entry does not "
        "already name other bytes). The changed files go as one uncompressed tar straight into a temp file "
        "inside dest, and one `publish` checks every member, writes each file through its own temp "
        "(fsync, rename) and the manifest `DEST.done` last. Changed: 2 module runs and 1 transfer per "
        "host; unchanged: 1 module run and nothing sent, whatever the number of files. `copy` makes 2 "
        "module runs per changed file and 2 per unchanged file (`stat`, then `copy` or `file`).",
        f"**The floor.** One `tar | ssh tar` per host in parallel took {median('changed', 'floor'):.2f} s "
        f"(changed) - it checks nothing and skips nothing. Ours adds to it what every Ansible run costs: "
        f"ansible-playbook itself ({overhead:.2f} s for a no-op play here) and, per host, two module runs "
        "(each an AnsiballZ upload, exec and clean-up over ssh). That fixed part does not grow with the "
        "file count, so the ratio to `copy` keeps falling as the directory grows; against the floor it "
        "cannot drop below the playbook's own start-up.",
    ]


def _rows(bench: SmallFiles, files: int) -> list[Row]:
    """ours vs copy (the issue's targets) and ours vs the floor, changed and unchanged."""
    rows = []
    for scenario in ("changed", "unchanged"):
        case = f"{files} × 2 KB to {len(bench.hosts)} hosts, {scenario}"
        ours = bench.series[(scenario, "ours")]
        rows.append(Row(case, ours, bench.series[(scenario, "copy")], TARGETS[scenario]))
        rows.append(Row(case, ours, bench.series[(scenario, "floor")]))
    return rows


def run(ctx: Context) -> CaseResult:
    """Measure changed and unchanged sends of a directory of small files."""
    files = ctx.profile.small_files
    ctx.log(f"small files: {files} × 2 KB to {ctx.profile.small_hosts} hosts")
    bench = SmallFiles(ctx)
    versions = tuple(str(random_tree(ctx.workdir / f"small-{version}", files, FILE_SIZE))
                     for version in ("a", "b"))
    bench.measure(versions)
    for host in bench.hosts:
        for tool in TOOLS:
            ctx.reset_dir(host, bench.directory(tool))
    data = {"files": files, "hosts": len(bench.hosts),
            "medians": {f"{scenario}/{LABELS[tool]}": series.value
                        for (scenario, tool), series in bench.series.items()},
            "series": [{"scenario": key[0], **series.to_dict()} for key, series in bench.series.items()],
            "module_runs": {f"{tool}/{scenario}": counts for (tool, scenario), counts in bench.counts.items()}}
    return CaseResult(KEY, f"{files} small files (2 KB) to {len(bench.hosts)} hosts",
                      _rows(bench, files), _notes(bench, files), data)
