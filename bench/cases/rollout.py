# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollout: config files to a fleet through the ``lockstep.handoff.handoff`` playbook.

Ours is the collection's own playbook (roles deliver, then promote) as a user
runs it, with whatever the roles do. The peers are the same hand-off built
from builtins (``copy`` into an incoming directory → ``wait_for`` → ``command:
mv``, one task each, looping over the files) and plain ``copy`` to the final
paths. Every tool runs under ansible-core's default strategy and under
Mitogen's ``mitogen_linear``, at each host count and file count, with forks =
hosts and a fresh directory on every host before each run (untimed). Module
runs per host are counted once per tool and file count from the ``-vvv``
output of a run on one host under the default strategy; Mitogen runs the same modules (in its own
interpreter on the host, which prints no line per module run).

A run predicted to take longer than ``rollout_cap_s`` (from the same tool's
measured run at fewer files or hosts, scaled linearly) is not run; the report
names it and its prediction instead of a number.

What a module run costs on every host sets the floor: at each host count and
strategy the case also times a play of one ``ping`` task and one of two; the
difference is one module run on every host, the rest the fixed cost of a
playbook. A hand-off needs at least one module run on each side (publish,
then move), so no hand-off playbook can beat the fixed cost plus two of those;
the report sets that floor beside each target.
"""

from __future__ import annotations

import random
import string

from bench.context import BenchError, Context
from bench.model import CaseResult, Row, Series, Target
from bench.playbook import CHANGED, Playbook, module_runs
from tests.fleet.harness import DATA_DIR
from tests.support.mitogen import STRATEGY as MITOGEN, mitogen_env, strategy_dir

KEY = "rollout"
DIRECTORY = f"{DATA_DIR}/rollout"
FILE_SIZE = 3 * 1024
DEFAULT = "linear"
STRATEGIES = (DEFAULT, MITOGEN)
TOOLS = {"ours": "handoff playbook", "builtin": "copy → wait_for → mv", "copy": "copy to final paths"}

OURS = """\
- name: Bench | The collection's hand-off playbook
  ansible.builtin.import_playbook: lockstep.handoff.handoff
"""

BUILTIN = """\
- name: Bench | copy to the incoming directory, wait_for, then mv into place
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Bench | Copy each file to the incoming directory
      ansible.builtin.copy:
        src: "{{ item }}"
        dest: "{{ dir }}/inbox/{{ item | basename }}"
        mode: "0644"
      loop: "{{ sources }}"
    - name: Bench | Wait for each file
      ansible.builtin.wait_for:
        path: "{{ dir }}/inbox/{{ item | basename }}"
        timeout: 120
      loop: "{{ sources }}"
    - name: Bench | Move each into place
      ansible.builtin.command:
        argv: [mv, "{{ dir }}/inbox/{{ item | basename }}", "{{ dir }}/app/{{ item | basename }}"]
      changed_when: true
      loop: "{{ sources }}"
"""

COPY = """\
- name: Bench | copy straight to the final paths
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Bench | Copy each file into place
      ansible.builtin.copy:
        src: "{{ item }}"
        dest: "{{ dir }}/app/{{ item | basename }}"
        mode: "0644"
      loop: "{{ sources }}"
"""


PINGS = 2  # plays of 1 and of 2 ping tasks: their difference is one module run on every host


def _ping_play(tasks: int) -> str:
    return ('- name: Bench | module runs on every host, nothing else\n  hosts: "{{ targets }}"\n  gather_facts: false\n'
            '  tasks:\n' + '    - name: Bench | Ping\n      ansible.builtin.ping:\n' * tasks)


def _config_files(ctx: Context, count: int) -> list[str]:
    """``count`` text config files of FILE_SIZE bytes on the controller (what a rollout ships)."""
    directory = ctx.workdir / "rollout" / str(count)
    directory.mkdir(parents=True)
    rng = random.Random(count)
    paths = []
    for number in range(1, count + 1):
        path = directory / f"service{number:03d}.conf"
        lines, size = [], 0
        while size < FILE_SIZE:
            line = f"{''.join(rng.choices(string.ascii_lowercase, k=12))} = {rng.randrange(10 ** 6)}\n"
            lines.append(line)
            size += len(line)
        path.write_text("".join(lines)[:FILE_SIZE])
        paths.append(str(path))
    return paths


def _extra_vars(tool: str, sources: list[str], hosts_pattern: str) -> dict:
    if tool == "ours":
        return {"handoff_hosts": hosts_pattern, "handoff_incoming_dir": f"{DIRECTORY}/inbox",
                "handoff_files": [{"src": path, "dest": f"{DIRECTORY}/app/{path.rsplit('/', 1)[1]}"}
                                  for path in sources]}
    return {"targets": hosts_pattern, "dir": DIRECTORY, "sources": sources}


def _reset(ctx: Context, hosts: int) -> None:
    """A fresh rollout directory with empty inbox/ and app/ on each host (untimed)."""
    for index in range(1, hosts + 1):
        ctx.reset_dir(ctx.host(index), DIRECTORY)
        ctx.host(index).run(f"mkdir {DIRECTORY}/inbox {DIRECTORY}/app")


def _predicted(walls: dict, tool: str, strategy: str, hosts: int, files: int) -> float | None:
    """This run's wall time scaled from the nearest measured run of the tool (fewer files, else fewer hosts).

    A one-file run is mostly fixed cost (playbook start, connections), so it predicts no larger file count.
    """
    smaller = [(f, h) for (t, s, h, f) in walls if t == tool and s == strategy and (h, f) != (hosts, files)
               and h <= hosts and f <= files and (f > 1 or files == 1)]
    if not smaller:
        return None
    f, h = max(smaller, key=lambda point: (point[1], point[0]))
    return walls[(tool, strategy, h, f)] * max(files / f, 1) * (hosts / h)


def _count_module_runs(ctx: Context, plays: dict, files: int, sources: list[str]) -> dict:
    """Module runs per host for each tool, from one -vvv run on h1 under the default strategy."""
    counts = {}
    for tool, play in plays.items():
        _reset(ctx, 1)
        timing = play.run(_extra_vars(tool, sources, ctx.host_pattern(1)), expect=CHANGED, verbose=True)
        counts[tool] = dict(module_runs(timing.stdout, ctx.host(1).address))
    ctx.log(f"rollout: module runs per host at {files} files: "
            + ", ".join(f"{tool} {sum(each.values())}" for tool, each in counts.items()))
    return counts


def _strategies(profile) -> tuple[str, ...]:
    """The strategies this run measures: the profile's choice (``--rollout-strategy``), else every one."""
    return profile.rollout_strategies or STRATEGIES


def _targets(strategy: str, hosts: int, files: int) -> dict:
    """The issue's targets for this point: peer tool -> Target."""
    targets = {}
    if strategy == DEFAULT and (hosts, files) == (5, 20):
        targets = {"builtin": Target("≤ 0.25× copy → wait_for → mv", 0.25), "copy": Target("≤ 0.5× plain copy", 0.5)}
    elif strategy == DEFAULT and (hosts, files) == (20, 1):
        targets = {"builtin": Target("≤ 0.5× copy → wait_for → mv", 0.5)}
    elif strategy == MITOGEN and files in (20, 200):
        targets = {"builtin": Target("≤ 1.0× the Mitogen builtin pipeline", 1.0)}
    return targets


def _floor_note(walls: dict, pings: dict, profile) -> str:
    """What one module run on every host cost, and the best ratio a two-module-run hand-off could reach."""
    lines = ["**The floor.** One module run on every host (a play of two `ping` tasks minus a play of one) and "
             "the fixed cost of a playbook (the play of one, minus its module run), at each host count and "
             "strategy; the hand-off needs a module run on each side (publish, then move), so no hand-off "
             "playbook can take less than the fixed cost plus two module runs:", "",
             "| hosts | strategy | fixed cost | one module run | floor (fixed + 2 runs) | floor / builtin at 1 file |",
             "|---|---|---|---|---|---|"]
    for hosts in profile.rollout_hosts:
        for strategy in _strategies(profile):
            if (strategy, hosts, 1) not in pings or (strategy, hosts, 2) not in pings:
                continue
            one, two = pings[(strategy, hosts, 1)], pings[(strategy, hosts, 2)]
            run = max(two - one, 0.0)
            builtin = walls.get(("builtin", strategy, hosts, 1))
            # The fixed cost plus two module runs is the play of two pings itself.
            lines.append(f"| {hosts} | {strategy} | {one - run:.2f} s | {run:.2f} s | {two:.2f} s | "
                         + (f"{two / builtin:.2f}× |" if builtin else "— |"))
    return "\n".join(lines)


def _table(walls: dict, skipped: dict, counts: dict, profile) -> str:
    lines = ["| hosts | files | strategy | " + " | ".join(TOOLS.values()) + " | ours / builtin | ours / copy |",
             "|---|---|---|---|---|---|---|---|"]
    for hosts in profile.rollout_hosts:
        for files in profile.rollout_files:
            for strategy in _strategies(profile):
                cells = []
                for tool in TOOLS:
                    key = (tool, strategy, hosts, files)
                    cells.append(f"{walls[key]:.2f} s" if key in walls
                                 else f"not run (≈ {skipped[key]:.0f} s predicted)" if key in skipped else "—")
                ours = walls.get(("ours", strategy, hosts, files))
                ratios = [f"{ours / walls[(peer, strategy, hosts, files)]:.2f}×"
                          if ours and (peer, strategy, hosts, files) in walls else "—" for peer in ("builtin", "copy")]
                lines.append(f"| {hosts} | {files} | {strategy} | " + " | ".join(cells + ratios) + " |")
    lines += ["", "Module runs on one host (from `-vvv`, default strategy):", "",
              "| files | " + " | ".join(TOOLS.values()) + " |", "|---|---|---|---|"]
    for files, per_tool in counts.items():
        lines.append(f"| {files} | " + " | ".join(
            f"{sum(per_tool[tool].values())} ({', '.join(f'{name} {n}' for name, n in sorted(per_tool[tool].items()))})"
            for tool in TOOLS) + " |")
    return "\n".join(lines)


def _module_run_rows(counts: dict) -> list[Row]:
    """Our module runs per host against the builtin pipeline's, at each file count; the target is ours ≤ 4."""
    return [Row(f"rollout {files} files: module runs per host",
                Series(TOOLS["ours"], "runs", [sum(per_tool["ours"].values())]),
                Series(TOOLS["builtin"], "runs", [sum(per_tool["builtin"].values())]),
                Target("≤ 4 module runs per host", 4, on_ratio=False))
            for files, per_tool in counts.items()]


def run(ctx: Context) -> CaseResult:
    """Time the three tools under both strategies at every host and file count."""
    if strategy_dir() is None:
        raise BenchError("mitogen is not installed in the controller venv (requirements/test.txt; bench/run "
                         "installs it with scripts/bootstrap)")
    strategy_env = {DEFAULT: {}, MITOGEN: mitogen_env()}
    plays = {"ours": Playbook(ctx, "rollout-ours", OURS), "builtin": Playbook(ctx, "rollout-builtin", BUILTIN),
             "copy": Playbook(ctx, "rollout-copy", COPY)}
    ping_plays = {tasks: Playbook(ctx, f"rollout-ping-{tasks}", _ping_play(tasks)) for tasks in range(1, PINGS + 1)}
    profile = ctx.profile
    sources = {files: _config_files(ctx, files) for files in profile.rollout_files}
    counts = {files: _count_module_runs(ctx, plays, files, sources[files]) for files in profile.rollout_files}
    walls, skipped, samples, rows = {}, {}, {}, []
    pings = _time_pings(ctx, ping_plays, strategy_env, profile, samples)
    for hosts in profile.rollout_hosts:
        for files in profile.rollout_files:
            for strategy in _strategies(profile):
                series = {}
                for turn in range(profile.runs):
                    order = list(TOOLS)[turn % 3:] + list(TOOLS)[:turn % 3]
                    for tool in order:
                        key = (tool, strategy, hosts, files)
                        predicted = _predicted(walls, tool, strategy, hosts, files)
                        if turn == 0 and predicted is not None and predicted > profile.rollout_cap_s:
                            skipped[key] = predicted
                        if key in skipped:
                            continue
                        _reset(ctx, hosts)
                        timing = plays[tool].run(_extra_vars(tool, sources[files], ctx.host_pattern(hosts)),
                                                 env={"ANSIBLE_FORKS": str(hosts), **strategy_env[strategy]},
                                                 expect=CHANGED)
                        series.setdefault(tool, Series(f"{TOOLS[tool]}, {strategy}", "s")).samples.append(timing.wall)
                for tool, each in series.items():
                    walls[(tool, strategy, hosts, files)] = each.value
                    samples[f"{tool}/{strategy}/{hosts}/{files}"] = each.samples
                ctx.log(f"rollout: {hosts} hosts, {files} files, {strategy}: "
                        + ", ".join(f"{tool} {each.value:.1f} s" for tool, each in series.items()))
                targets = _targets(strategy, hosts, files)
                for peer in ("builtin", "copy"):
                    if "ours" in series and peer in series:
                        rows.append(Row(f"rollout {files} files × {hosts} hosts, {strategy}", series["ours"],
                                        series[peer], targets.get(peer)))
    rows += _module_run_rows(counts)
    _reset(ctx, max(profile.rollout_hosts))
    notes = [_table(walls, skipped, counts, profile),
             f"{FILE_SIZE // 1024} KB text config files; forks = hosts; a fresh directory on each host before every "
             f"run (untimed). Runs predicted over {profile.rollout_cap_s:.0f} s are not run.",
             _floor_note(walls, pings, profile)]
    data = {"hosts": list(profile.rollout_hosts), "files": list(profile.rollout_files),
            "walls": {"/".join(map(str, key)): value for key, value in walls.items()},
            "skipped": {"/".join(map(str, key)): value for key, value in skipped.items()},
            "module_runs": counts, "samples": samples,
            "pings": {"/".join(map(str, key)): value for key, value in pings.items()}}
    return CaseResult(KEY, "Rollout: config files through the hand-off playbook, default strategy and Mitogen",
                      rows, notes, data)


def _time_pings(ctx: Context, ping_plays: dict, strategy_env: dict, profile, samples: dict) -> dict:
    """``{(strategy, hosts, tasks): median wall}`` of the ping plays, taking turns as the tools do."""
    pings = {}
    for hosts in profile.rollout_hosts:
        for strategy in _strategies(profile):
            series = {tasks: Series(f"{tasks} ping task(s), {strategy}", "s") for tasks in ping_plays}
            for turn in range(profile.runs):
                for tasks in (list(ping_plays) if turn % 2 == 0 else list(reversed(ping_plays))):
                    timing = ping_plays[tasks].run({"targets": ctx.host_pattern(hosts)},
                                                   env={"ANSIBLE_FORKS": str(hosts), **strategy_env[strategy]})
                    series[tasks].samples.append(timing.wall)
            for tasks, each in series.items():
                pings[(strategy, hosts, tasks)] = each.value
                samples[f"ping{tasks}/{strategy}/{hosts}"] = each.samples
            ctx.log(f"rollout: {hosts} hosts, {strategy}: one module run on every host "
                    f"{series[2].value - series[1].value:.2f} s, fixed cost {2 * series[1].value - series[2].value:.2f} s")
    return pings
