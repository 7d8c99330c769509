# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every case gets: the fleet, the profile, a scratch dir, a way to say what it does."""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.profiles import Profile
from tests.fleet.harness import DATA_DIR, LOGIN_USER, SSH_OPTIONS, Fleet, Host


class BenchError(RuntimeError):
    """A measurement could not be taken (a run failed or did something unexpected)."""


@dataclass
class Context:
    """Shared by all cases of one bench run."""

    fleet: Fleet
    profile: Profile
    workdir: Path
    started: float
    playbook_overhead: float = 0.0

    def log(self, message: str) -> None:
        """Progress on stderr, with the time since the start, so a long run shows where it is."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def host(self, index: int) -> Host:
        """Host ``h<index>`` of the fleet."""
        return self.fleet.hosts[f"h{index}"]

    def host_pattern(self, count: int) -> str:
        """An inventory pattern naming h1..h<count>."""
        return ":".join(f"h{i}" for i in range(1, count + 1))

    def ssh_argv(self, program: str) -> list[str]:
        """``ssh``/``scp`` with the fleet's key and options, one fresh connection per call
        (no multiplexing), as an operator's script runs them."""
        return [program, "-q", "-i", str(self.fleet.private_key), *SSH_OPTIONS,
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]

    def remote(self, host: Host, command: str) -> list[str]:
        """argv running ``command`` on ``host`` over a fresh ssh connection."""
        return [*self.ssh_argv("ssh"), f"{LOGIN_USER}@{host.address}", command]

    def reset_dir(self, host: Host, path: str) -> None:
        """Make ``path`` (under the data dir) an empty directory inside ``host``: untimed set-up."""
        if not path.startswith(DATA_DIR + "/"):
            raise BenchError(f"refusing to reset {path}: not under {DATA_DIR}")
        quoted = shlex.quote(path)
        host.run(f"rm -rf -- {quoted} && mkdir -p -- {quoted}")
