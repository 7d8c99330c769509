# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m bench``: start a fresh fleet, run the cases, print the table, write the report.

    bench/run [--quick | --full] [--runs N] [--case NAME ...] [--output DIR]
              [--rollout-hosts N ...] [--rollout-files N ...] [--rollout-strategy NAME ...]

Needs root (the fleet is sshd hosts in mount namespaces) and the controller venv
with requirements/bench.txt; ``bench/run`` sets that up.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.cases import CASES
from bench.cases.rollout import STRATEGIES as ROLLOUT_STRATEGIES
from bench.context import BenchError, Context
from bench.model import Series
from bench.playbook import Playbook
from bench.profiles import PROFILES, Profile
from tests.fleet.harness import DEFAULT_DISK_SIZE, Fleet, FleetError, HostSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
NOOP = """\
- name: Bench | Nothing, to time ansible-playbook itself
  hosts: h1
  gather_facts: false
  tasks:
    - name: Bench | Reach the host once
      ansible.builtin.ping:
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="profile", const="quick",
                      help="smoke run: 3 runs each, smaller sizes")
    size.add_argument("--full", action="store_const", dest="profile", const="full",
                      help="the issue's full sizes: 1 GiB file, 50 small files, 8 × 200 moves, 40 hosts")
    parser.add_argument("--runs", type=int, help="repetitions per measurement (median taken)")
    parser.add_argument("--case", action="append", choices=list(CASES), dest="cases",
                        help="run only this case; repeatable (default: all)")
    parser.add_argument("--rollout-hosts", type=int, nargs="+", metavar="N",
                        help="the rollout case's host counts (default: the profile's)")
    parser.add_argument("--rollout-files", type=int, nargs="+", metavar="N",
                        help="the rollout case's file counts (default: the profile's); a peer run is predicted "
                             "from a smaller count measured in the same run, so keep one")
    parser.add_argument("--rollout-strategy", action="append", choices=ROLLOUT_STRATEGIES,
                        dest="rollout_strategies", help="run the rollout case under this strategy only; repeatable "
                                                        "(default: both)")
    parser.add_argument("--small-points", type=_files_by_hosts, nargs="+", metavar="FILESxHOSTS",
                        help="the small-files case's points, e.g. 50x3 500x20 (default: the profile's); the first "
                             "is measured most, and only there does copy run (elsewhere it is predicted from it), so "
                             "keep it small")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks",
                        help="where report.md and the plots go (default: docs/benchmarks)")
    parser.set_defaults(profile="default")
    return parser


def _files_by_hosts(text: str) -> tuple[int, int]:
    """``500x20`` as ``(500, 20)``."""
    try:
        files, hosts = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FILESxHOSTS, such as 500x20") from None
    return files, hosts


def _fleet_specs(profile: Profile) -> list[HostSpec]:
    """h1 carries the large files: dest, temp and the other tools' copies fit on its disk."""
    largest = max(profile.large_sizes_mib + (profile.rerun_size_mib,))
    big = HostSpec("h1", disk_size=f"{4 * largest + 256}m")
    return [big] + [HostSpec(f"h{i}", DEFAULT_DISK_SIZE) for i in range(2, profile.max_hosts + 1)]


def _load() -> str:
    """The 1-minute load average, to show how busy the shared machine was."""
    return f"{os.getloadavg()[0]:.1f}"


def _playbook_overhead(ctx: Context) -> float:
    """Median wall time of a one-task playbook: the fixed cost inside every Ansible number."""
    play = Playbook(ctx, "noop", NOOP)
    return Series("no-op play", "s", [play.run().wall for run in range(ctx.profile.runs)]).value


def _measure(profile: Profile, cases: list[str]) -> tuple[list, float, str, int]:
    """Start the fleet, run the cases; return results, playbook overhead, remote Python, host count."""
    started = time.monotonic()
    specs = _fleet_specs(profile)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir, \
            Fleet.start(specs, workdir=Path(workdir) / "fleet") as fleet:
        # The fleet lives inside the bench's own dir, not in /tmp/fleet-*, where a clean-up of
        # leftover test fleets (`python -m tests.fleet down` on each) would stop it mid-run.
        ctx = Context(fleet, profile, Path(workdir), started)
        ctx.log(f"fleet of {len(specs)} hosts up; profile {profile.name}, {profile.runs} runs each")
        ctx.playbook_overhead = _playbook_overhead(ctx)
        remote_python = ctx.host(1).run("python3 -V").stdout.strip()
        results = [CASES[name](ctx) for name in cases]
    return results, ctx.playbook_overhead, f"{remote_python} (/usr/bin/python3)", len(specs)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the summary table and where the report went."""
    args = _parser().parse_args(argv)
    profile = (PROFILES[args.profile].with_runs(args.runs)
               .with_rollout(args.rollout_hosts, args.rollout_files, args.rollout_strategies)
               .with_small_points(args.small_points))
    cases = args.cases or list(CASES)
    started = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc)
    load_before = _load()
    # SIGTERM unwinds like Ctrl-C, so the fleet's context manager stops every host.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results, overhead, remote_python, hosts = _measure(profile, cases)
    except (BenchError, FleetError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; the fleet was stopped, no report written", file=sys.stderr)
        return 130
    info = report.RunInfo(
        command=" ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])]),
        started_utc=now.strftime("%Y-%m-%d %H:%M UTC"), duration=time.monotonic() - started, profile=profile.name,
        runs=profile.runs,
        controller=(f"ansible-core {importlib.metadata.version('ansible-core')} on Python "
                    f"{platform.python_version()} ({sys.executable})"),
        remote_python=remote_python, hosts=hosts, load_before=load_before, load_after=_load(),
        playbook_overhead=overhead)
    path = report.write(results, info, args.output)
    report.save_raw(results, info, REPO_ROOT / "bench" / "results" / f"{now:%Y%m%dT%H%M%SZ}-{profile.name}.json")
    print(report.summary_table([row for result in results for row in result.rows]))
    print(f"\nreport: {path}")
    return 0
