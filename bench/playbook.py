# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook against the bench fleet and time the whole command.

The wall time of the command is what an operator waits for, so it is what we
time - for us and for the Ansible peers alike, with the same settings
(ansible-core defaults plus the fleet's inventory). Every timed run is checked:
a failed or unexpected run raises instead of producing a number.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.context import BenchError, Context
from tests.support.ansible_run import ansible_env, parse_recap, playbook_command
from tests.support.processes import descendants

CHANGED = "changed"
UNCHANGED = "unchanged"
_MODULE_EXEC = re.compile(r"^<(?P<address>[\d.]+)> SSH: EXEC .*?python[\d.]* \S*/AnsiballZ_(?P<module>\w+)\.py")
# A pipelined module run is one ssh command that starts python on the module fed to its stdin; ansible-core names
# the module just before, in "Using module file".
# ansible-core 2.19 wraps it as '/bin/sh -c '"'"'/usr/bin/python3 && sleep 0'"'"'', 2.21 as '/bin/sh -c /usr/bin/python3'.
_PIPELINED_EXEC = re.compile(
    r"""^<(?P<address>[\d.]+)> SSH: EXEC ssh .*'/bin/sh -c (?:'"'"')?\S*python[\d.]*(?: && sleep 0'"'"')?'$""")
_MODULE_FILE = re.compile(r"^Using module file \S*/(?P<module>\w+)\.py$")
_SAMPLE_INTERVAL = 0.05


@dataclass
class Timing:
    """One finished run: wall time, recap, output, and the controller's memory."""

    wall: float
    recap: dict
    stdout: str
    max_rss_kib: int
    tree_peak_kib: int  # 0 unless the run sampled memory


class TreeMemory:
    """Samples the summed RSS of a process and its descendants (workers, ssh clients).

    ``ru_maxrss`` only tells the largest single process; with one worker per
    host the sum is what the controller machine has to hold.
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        while not self._stop.wait(_SAMPLE_INTERVAL):
            total = 0
            for pid in [self.pid, *descendants(self.pid)]:
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1]) * page_kib
                except (OSError, IndexError, ValueError):
                    continue
            self.peak_kib = max(self.peak_kib, total)


class Playbook:
    """A playbook written once into the bench workdir, then run (and timed) many times."""

    def __init__(self, ctx: Context, name: str, text: str):
        self.ctx = ctx
        self.name = name
        self.path = ctx.workdir / f"{name}.yml"
        self.path.write_text(text)

    def spawn(self, extra_vars: dict | None = None, env: dict | None = None, args=(),
              output=None) -> subprocess.Popen:
        """Start the run in the background, its output going to the file object ``output``."""
        command = playbook_command(self.path, self.ctx.fleet.inventory, extra_vars, args)
        return subprocess.Popen(command, env=ansible_env({**self.ctx.fleet.ansible_env, **(env or {})}),
                                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)

    def run(self, extra_vars: dict | None = None, env: dict | None = None, expect: str | None = None,
            verbose: bool = False, memory: bool = False) -> Timing:
        """Run to completion, timing the whole command; check it did what ``expect`` says.

        ``memory`` samples the process tree's RSS meanwhile; it costs CPU (a /proc scan
        every 50 ms), so only the cases that report memory ask for it.
        """
        with tempfile.TemporaryFile(mode="w+", dir=self.ctx.workdir) as output:
            started = time.perf_counter()
            process = self.spawn(extra_vars, env, ("-vvv",) if verbose else (), output)
            sampler = TreeMemory(process.pid)
            with sampler if memory else contextlib.nullcontext():
                status, usage = os.wait4(process.pid, 0)[1:]
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            stdout = output.read()
        self.check(process.returncode, stdout, expect)
        return Timing(wall, parse_recap(stdout), stdout, usage.ru_maxrss, sampler.peak_kib)

    def check(self, returncode: int, stdout: str, expect: str | None = None) -> None:
        """Raise BenchError unless the run succeeded on every host as ``expect`` says."""
        problems = []
        recap = parse_recap(stdout)
        if returncode != 0 or not recap:
            problems.append(f"exit code {returncode}")
        for host, counts in recap.items():
            if counts.get("failed") or counts.get("unreachable"):
                problems.append(f"{host} failed or unreachable")
            elif expect == CHANGED and not counts.get("changed"):
                problems.append(f"{host} reported no change where one was expected")
            elif expect == UNCHANGED and counts.get("changed"):
                problems.append(f"{host} reported changed={counts['changed']} on an unchanged re-run")
        if problems:
            tail = "\n".join(stdout.splitlines()[-25:])
            raise BenchError(f"playbook {self.name}: {'; '.join(problems)}\n{tail}")


def module_runs(verbose_stdout: str, address: str) -> Counter:
    """How many times each module ran on the host at ``address``, from ``-vvv`` output of a run on that host.

    An ``AnsiballZ_<module>.py`` executed names its module; a pipelined run is
    the module the last ``Using module file`` line named.
    """
    runs: Counter = Counter()
    module = None
    for line in verbose_stdout.splitlines():
        named = _MODULE_FILE.match(line)
        if named:
            module = named["module"]
            continue
        executed = _MODULE_EXEC.match(line)
        if executed and executed["address"] == address:
            runs[executed["module"]] += 1
            continue
        piped = _PIPELINED_EXEC.match(line)
        if piped and piped["address"] == address and module is not None:
            runs[module] += 1
    return runs
