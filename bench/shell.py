# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time plain commands (the raw ssh peers) the way an operator's script runs them."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import time

from bench.context import BenchError


def _check(command: list[str], returncode: int, stderr: str) -> None:
    """Raise BenchError with the command's stderr when it failed."""
    if returncode != 0:
        raise BenchError(f"{shlex.join(command)} exited {returncode}: {stderr.strip()[-500:]}")


def timed_sequence(commands: list[list[str]]) -> float:
    """Run ``commands`` one after another, each must succeed; return the wall time."""
    started = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        _check(command, done.returncode, done.stderr)
    return time.perf_counter() - started


def timed_parallel(commands: list[list[str]]) -> float:
    """Start all ``commands`` at once and wait for all, each must succeed; return the wall time."""
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        processes = [stack.enter_context(subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                                          stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.PIPE, text=True))
                     for command in commands]
        errors = [process.communicate()[1] for process in processes]
        wall = time.perf_counter() - started
    for command, process, stderr in zip(commands, processes, errors):
        _check(command, process.returncode, stderr)
    return wall


def pipeline(*stages: list[str]) -> list[str]:
    """argv of a bash pipeline of ``stages`` that fails when any stage fails."""
    return ["bash", "-o", "pipefail", "-c", " | ".join(shlex.join(stage) for stage in stages)]
