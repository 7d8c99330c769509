"""Make the checkout importable as ``ansible_collections.lockstep.handoff`` and as ``tests``."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for entry in (REPO_ROOT / '.build', REPO_ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
