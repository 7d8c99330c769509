# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attacker account for the adversarial suite: needs root (a skip fails in CI, see tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from .attacker import ensure_attacker


@pytest.fixture(scope='session')
def attacker():
    """``(uid, gid)`` of the attacking user, created once; the suite needs root to create it and to be the victim."""
    if os.geteuid() != 0:
        pytest.skip('the adversarial suite needs root: it creates a second user and races root-run tasks')
    return ensure_attacker()
