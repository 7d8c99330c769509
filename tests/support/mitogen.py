# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook under Mitogen for Ansible (``strategy: mitogen_linear``).

Mitogen ships its strategy plugins inside its Python package, outside any
collection, so ansible finds them only through ``ANSIBLE_STRATEGY_PLUGINS``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

STRATEGY = "mitogen_linear"


def strategy_dir() -> Path | None:
    """The directory of Mitogen's strategy plugins in this Python, or None when Mitogen is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "plugins" / "strategy"


def mitogen_env() -> dict:
    """Environment that makes ansible-playbook run every play with ``strategy: mitogen_linear``."""
    directory = strategy_dir()
    if directory is None:
        raise RuntimeError("mitogen is not installed in this controller venv; "
                           "pip install -r requirements/test.txt (scripts/bootstrap does it)")
    return {"ANSIBLE_STRATEGY_PLUGINS": str(directory), "ANSIBLE_STRATEGY": STRATEGY}
