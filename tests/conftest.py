# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Suite-wide set-up: the checkout importable as ``ansible_collections.lockstep.handoff`` and as
``tests``; in CI a skipped test fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ['tests.support.redis_server', 'tests.support.hostile_user']

REPO_ROOT = Path(__file__).resolve().parents[1]
for entry in (REPO_ROOT / '.build', REPO_ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test is a failure: CI must run everything, not skip it quietly."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get('CI') == 'true' and report.skipped and not hasattr(report, 'wasxfail'):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = 'failed'
        report.longrepr = 'skipped in CI, which counts as a failure: %s' % reason
