# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Source data on the controller: random bytes, because real payloads (archives) do not compress."""

from __future__ import annotations

import os
from pathlib import Path

from bench.profiles import MIB


def random_file(path: Path, size: int) -> Path:
    """Write ``size`` random bytes to ``path``."""
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = min(remaining, MIB)
            handle.write(os.urandom(chunk))
            remaining -= chunk
    return path


def random_tree(directory: Path, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes in ``directory`` (f001, f002, ...)."""
    directory.mkdir(parents=True)
    for number in range(1, count + 1):
        random_file(directory / f"f{number:03d}", size)
    return directory
