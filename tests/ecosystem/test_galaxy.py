# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-galaxy builds a clean tarball, installs it, and the installed copy runs on its own."""

from __future__ import annotations

import json
import tarfile

import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import copy_checkout, run_tool, tool_env
from .test_docs import MODULES, ROLES

# What a working checkout accumulates and a release must not carry, as paths inside the tarball.
JUNK = (
    ".venv/bin/python",
    ".build/ansible_collections/lockstep/handoff/galaxy.yml",
    "collections/ansible_collections/ansible/posix/MANIFEST.json",
    "tests/output/.tmp/sanity/report.json",
    "bench/results/2026-11-23.json",
    ".pytest_cache/v/cache/lastfailed",
    "plugins/module_utils/__pycache__/_marker.cpython-311.pyc",
    "tests/unit/__pycache__/conftest.cpython-312-pytest-9.0.3.pyc",
    "lockstep-handoff-0.0.9.tar.gz",
)
# The checkout's development tools and the tests that need root, sshd or the test venv (README.md,
# "The release tarball"): no path in the tarball may start with one of these.
LEFT_OUT = (
    "bench/", "scripts/", ".ci/", ".ansible-lint", ".gitignore", "pytest.ini", "extensions/", "changelogs/fragments/",
    "changelogs/.plugin-cache.yaml", "tests/fleet/", "tests/adversarial/", "tests/roles/", "tests/ecosystem/",
    "tests/integration/conftest.py", "tests/integration/test_",
    "requirements/test.txt", "requirements/ecosystem.txt", "requirements/bench",
)
SHIPPED = (
    "README.md",
    "CHANGELOG.rst",
    "changelogs/changelog.yaml",
    "LICENSES/GPL-3.0-or-later.txt",
    "execution-environment.yml",
    "requirements/controller-2.19.txt",
    "tests/unit/conftest.py",
    "tests/integration/targets/atomic_upload/aliases",
    "tests/support/ansible_run.py",
    "roles/deliver/meta/argument_specs.yml",
    "roles/promote/handlers/main.yml",
    "roles/agent/files/handoff.sh",
    "playbooks/handoff.yml",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "docs/docsite/extra-docs.yml",
    "docs/docsite/rst/awx.rst",
)


def checkout_copy_with_junk(destination):
    """This checkout's files plus JUNK, at ``destination``."""
    copy_checkout(destination)
    for name in JUNK:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_bytes(b"junk")


def test_build_ignore_keeps_caches_venvs_and_build_output_out_of_the_tarball(tmp_path):
    source = tmp_path / "checkout"
    checkout_copy_with_junk(source)
    done = run_tool("ansible-galaxy", "collection", "build", "--output-path", tmp_path, cwd=source)
    assert done.returncode == 0, done.stdout + done.stderr
    version = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    with tarfile.open(tmp_path / f"lockstep-handoff-{version}.tar.gz") as tarball:
        names = set(tarball.getnames())
    assert sorted(name for name in JUNK if name in names) == [], "galaxy.yml build_ignore lets these in"
    assert sorted(name for name in names if name.startswith(LEFT_OUT)) == [], "galaxy.yml build_ignore lets these in"
    assert {name for name in LEFT_OUT if (source / name).exists()} >= {"bench/", "scripts/", "tests/fleet/"}, \
        "the checkout copy lacks what the tarball must leave out: the check above proves nothing"
    assert sorted(name for name in SHIPPED if name not in names) == [], "the tarball lacks these"


def test_ansible_doc_renders_every_module_and_role_from_the_installed_copy(installed_collection, tmp_path):
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(installed_collection), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False")
    installed = installed_collection / "ansible_collections" / "lockstep" / "handoff"
    for plugin_type, names in (("module", MODULES), ("role", ROLES)):
        done = run_tool("ansible-doc", "-t", plugin_type, "--json", *(f"lockstep.handoff.{n}" for n in names), env=env,
                        cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        docs = json.loads(done.stdout)
        assert sorted(docs) == [f"lockstep.handoff.{n}" for n in names], done.stderr
        if plugin_type == "module":
            sources = {name: doc["doc"]["filename"] for name, doc in docs.items()}
            assert all(path.startswith(f"{installed}/plugins/modules/") for path in sources.values()), sources
            assert all(doc["doc"]["short_description"] and doc["examples"] for doc in docs.values())
        else:
            assert all(doc["entry_points"]["main"]["options"] for doc in docs.values())


def test_the_installed_copy_alone_runs_the_demo(installed_collection, tmp_path):
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(installed_collection), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
                   ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    listed = run_tool("ansible-galaxy", "collection", "list", "lockstep.handoff", "--format", "json", env=env,
                      cwd=tmp_path)
    assert list(yaml.safe_load(listed.stdout)) == [str(installed_collection / "ansible_collections")], listed.stdout
    demo = run_tool("ansible-playbook", "lockstep.handoff.demo", "-e", f"demo_root={tmp_path}/demo", "-e",
                    "demo_hosts=2", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert demo.stdout.count("moved ") == 2, demo.stdout
    assert sorted(p.name for p in (tmp_path / "demo").glob("demo*/ready/report.txt")) == ["report.txt"] * 2
