# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the ecosystem checks: the controller's tools, a built and installed collection, a fleet."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fleet import conftest as fleet_fixtures
from tests.fleet.harness import Fleet, HostSpec
from tests.support.ansible_run import COLLECTIONS_PATH, REPO_ROOT, bin_path

ECOSYSTEM_REQUIREMENTS = REPO_ROOT / "requirements" / "ecosystem.txt"


def tool_env(**extra):
    """The environment of the controller's own tools: its venv first on PATH (as if activated),
    this checkout's collection, no colour."""
    venv = Path(sys.executable).parent.parent
    env = dict(os.environ)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run_tool(*argv, cwd=REPO_ROOT, env=None, timeout=300):
    """Run one of the controller venv's programs to completion; return the CompletedProcess."""
    return subprocess.run([bin_path(argv[0]), *map(str, argv[1:])], cwd=cwd, env=env or tool_env(),
                          capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


def copy_checkout(destination):
    """This checkout's files (tracked and new, as git lists them, so no ignored file) at ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


# tests/fleet's fixture, made visible to this directory: skip (or, in CI, fail) without root.
fleet_machine = fleet_fixtures.fleet_machine


@pytest.fixture(scope="session", autouse=True)
def ecosystem_tools():
    """Fail at once, saying how to fix it, when requirements/ecosystem.txt is not installed here."""
    missing = [name for name, module in (("ansible-lint", "ansiblelint"), ("ansible-runner", "ansible_runner"),
                                         ("ansible-builder", "ansible_builder"), ("antsibull-docs", "antsibull_docs"),
                                         ("m2r2", "m2r2"), ("molecule", "molecule"))
               if importlib.util.find_spec(module) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing from {sys.prefix}: run "
                    f"{sys.executable} -m pip install -r {ECOSYSTEM_REQUIREMENTS}", pytrace=False)


@pytest.fixture(scope="session")
def built_collection(tmp_path_factory):
    """The tarball `ansible-galaxy collection build` makes of this checkout."""
    output = tmp_path_factory.mktemp("galaxy-build")
    done = run_tool("ansible-galaxy", "collection", "build", "--output-path", output)
    assert done.returncode == 0, done.stdout + done.stderr
    (tarball,) = output.glob("lockstep-handoff-*.tar.gz")
    return tarball


@pytest.fixture(scope="session")
def installed_collection(built_collection, tmp_path_factory):
    """A collections path holding only lockstep.handoff, installed from the built tarball."""
    path = tmp_path_factory.mktemp("galaxy-install")
    # With this checkout on the collections path, ansible-galaxy would find 0.1.0 "already installed".
    done = run_tool("ansible-galaxy", "collection", "install", built_collection, "-p", path,
                    env=tool_env(ANSIBLE_COLLECTIONS_PATH=str(path)))
    assert done.returncode == 0, done.stdout + done.stderr
    return path


@pytest.fixture(scope="session")
def runner_fleet(fleet_machine):
    """Two ordinary hosts for the ansible-runner job."""
    with Fleet.start((HostSpec("e1"), HostSpec("e2"))) as started:
        yield started
