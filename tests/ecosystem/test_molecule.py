# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The molecule scenarios of the three roles (extensions/molecule/, molecule's layout for a
collection): delegated to local pseudo-hosts, each runs converge, a second converge that must change
nothing, and verify, between two runs of the shared destroy playbook."""

from __future__ import annotations

import re

import pytest

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool

SCENARIOS = sorted(path.parent.name for path in (REPO_ROOT / "extensions" / "molecule").glob("*/molecule.yml"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_every_role_has_a_scenario():
    assert SCENARIOS == sorted(path.name for path in (REPO_ROOT / "roles").iterdir() if path.is_dir())


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(scenario):
    done = run_tool("molecule", "test", "--scenario-name", scenario, timeout=600)
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, output[-6000:]
    steps = 5 if scenario != "promote" else 6  # destroy, [prepare,] converge, idempotence, verify, destroy
    assert re.search(rf"^{scenario} +: actions={steps} +successful={steps} +disabled=0 +skipped=0 +missing=0 +failed=0",
                     output, re.M), output[-3000:]
