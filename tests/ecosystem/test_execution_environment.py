# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution-environment files: ansible-builder accepts them, and they agree with the project.

No container engine here, so nothing is built; `ansible-builder create` writes the build
context, which shows what a build would install.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml
from ansible_builder.ee_schema import validate_schema

from tests.support.ansible_run import REPO_ROOT

from .conftest import ECOSYSTEM_REQUIREMENTS, run_tool

EE_FILE = REPO_ROOT / "execution-environment.yml"
COLLECTION_EE_FILE = REPO_ROOT / "meta" / "execution-environment.yml"


def pinned(requirements_file, package):
    """The version ``package==X`` pins in a requirements file."""
    (version,) = re.findall(rf"^{re.escape(package)}==(\S+)$", requirements_file.read_text(), re.M)
    return version


def test_collection_needs_nothing_beyond_ansible_core():
    assert yaml.safe_load(COLLECTION_EE_FILE.read_text()) == {"version": 1, "dependencies": {}}


def test_ansible_builder_finds_no_python_or_system_dependency_in_the_installed_collection(installed_collection):
    introspect = Path(sys.modules["ansible_builder"].__file__).parent / "_target_scripts" / "introspect.py"
    done = run_tool("python", introspect, "introspect", installed_collection)
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(done.stdout) == {"python": [], "system": []}


def test_execution_environment_is_a_valid_v3_definition_that_matches_the_project(built_collection):
    definition = yaml.safe_load(EE_FILE.read_text())
    validate_schema(definition)
    assert definition["version"] == 3
    dependencies = definition["dependencies"]
    assert dependencies["ansible_core"]["package_pip"] == "ansible-core==" + pinned(
        REPO_ROOT / "requirements" / "controller-2.21.txt", "ansible-core")
    assert dependencies["ansible_runner"]["package_pip"] == "ansible-runner==" + pinned(
        ECOSYSTEM_REQUIREMENTS, "ansible-runner")
    assert dependencies["python"] == ["cryptography==" + pinned(
        REPO_ROOT / "requirements" / "controller-2.21.txt", "cryptography")]
    assert dependencies["galaxy"]["collections"] == [{"name": f"collections/{built_collection.name}", "type": "file"}]
    assert definition["additional_build_files"] == [{"src": built_collection.name, "dest": "collections"}]


def test_ansible_builder_creates_a_build_context_that_installs_the_tarball(built_collection, tmp_path):
    shutil.copy(EE_FILE, tmp_path)
    shutil.copy(built_collection, tmp_path)
    done = run_tool("ansible-builder", "create", "--file", EE_FILE.name, "--context", "context",
                    "--output-filename", "Containerfile", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    context = tmp_path / "context"
    assert (context / "_build" / "collections" / built_collection.name).read_bytes() == built_collection.read_bytes()
    steps = (context / "Containerfile").read_text()
    dependencies = yaml.safe_load(EE_FILE.read_text())["dependencies"]
    refs = f'{dependencies["ansible_core"]["package_pip"]} {dependencies["ansible_runner"]["package_pip"]}'
    assert f'ARG ANSIBLE_INSTALL_REFS="{refs}"' in steps
    assert "ansible-galaxy collection install" in steps
