# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-doc renders every role and every module, and each role documents exactly its defaults."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool

ROLES = sorted(p.name for p in (REPO_ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_every_role_and_module_is_found():
    assert ROLES == ["agent", "deliver", "promote"]
    assert {"atomic_upload", "wait_for_marker", "locked_move"} <= set(MODULES)


@pytest.mark.parametrize("plugin_type, names", [("role", ROLES), ("module", MODULES)], ids=["roles", "modules"])
def test_ansible_doc_renders(plugin_type, names):
    fqcns = [f"lockstep.handoff.{name}" for name in names]
    done = run_tool("ansible-doc", "-t", plugin_type, *fqcns)
    assert done.returncode == 0, done.stdout + done.stderr
    headers = re.findall(r"^> (?:MODULE|ROLE):? \*?([^*\s]+)", ANSI.sub("", done.stdout), re.M)
    assert sorted(headers) == fqcns, done.stdout[:2000]
    assert "lockstep.handoff" not in done.stderr, done.stderr


def test_each_role_documents_exactly_the_variables_it_defaults():
    done = run_tool("ansible-doc", "-t", "role", "--json", *(f"lockstep.handoff.{name}" for name in ROLES))
    assert done.returncode == 0, done.stdout + done.stderr
    docs = json.loads(done.stdout)
    for name in ROLES:
        options = docs[f"lockstep.handoff.{name}"]["entry_points"]["main"]["options"]
        defaults = yaml.safe_load((REPO_ROOT / "roles" / name / "defaults" / "main.yml").read_text())
        assert set(options) == set(defaults), name
        assert all(key.startswith(f"handoff_{name}_") for key in defaults), name
        assert {key: options[key].get("default") for key in defaults} == defaults, name
