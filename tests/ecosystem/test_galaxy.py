"""ansible-galaxy builds a clean tarball, installs it, and the installed copy runs on its own."""

from __future__ import annotations

import shutil
import subprocess
import tarfile

import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool, tool_env

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
SHIPPED = (
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
    """This checkout's files (tracked and new, as git lists them) plus JUNK, at ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
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
    assert sorted(name for name in SHIPPED if name not in names) == [], "the tarball lacks these"


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
