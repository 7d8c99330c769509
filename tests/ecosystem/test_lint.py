# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-lint's production profile passes on the roles, the playbooks and the EE files, offline."""

from __future__ import annotations

import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool

LINTED = ("roles", "playbooks", "extensions", "execution-environment.yml", "meta/execution-environment.yml", ".ansible-lint")


def test_lint_config_asks_for_the_production_profile_and_never_for_galaxy():
    config = yaml.safe_load((REPO_ROOT / ".ansible-lint").read_text())
    assert config["profile"] == "production"
    assert config["offline"] is True


def test_ansible_lint_production_profile_passes():
    done = run_tool("ansible-lint", *LINTED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stderr, done.stderr
