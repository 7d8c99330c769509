# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m bench``: say plainly what is missing, or run the bench."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from tests.support.ansible_run import COLLECTIONS_PATH, bin_path


def preflight_problem() -> str | None:
    """Why this Python on this machine cannot run the bench, or None."""
    if os.geteuid() != 0:
        return ("needs root: it starts its own fleet of sshd hosts (mount namespaces, tmpfs mounts, "
                "useradd, sudoers). Run it as root; CI has root.")
    if not os.access(bin_path("ansible-playbook"), os.X_OK):
        return (f"{sys.executable} is not a controller venv (no ansible-playbook beside it); "
                "use bench/run, which sets up .venv/<controller> with scripts/bootstrap")
    if not (COLLECTIONS_PATH / "ansible_collections" / "lockstep" / "handoff").exists():
        return f"the collection is not linked under {COLLECTIONS_PATH}; run scripts/bootstrap"
    if importlib.util.find_spec("matplotlib") is None:
        return (f"matplotlib is missing from {sys.executable}; "
                f"{sys.executable} -m pip install -r requirements/bench.txt (bench/run does it)")
    return None


def main() -> int:
    """Check first, so a missing piece is one sentence; the bench (and matplotlib) load after."""
    problem = preflight_problem()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    return importlib.import_module("bench.cli").main()


if __name__ == "__main__":
    sys.exit(main())
