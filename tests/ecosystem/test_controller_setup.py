# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A newcomer's first commands: scripts/demo sets up the controller alone, and ansible prints no
Python warning from the controller's own packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.release import __version__ as ANSIBLE_VERSION

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool, tool_env

CONTROLLER = ".".join(ANSIBLE_VERSION.split(".")[:2])
TEST_TOOLS = ("pytest", "pytest-xdist", "pytest-ansible", "ansible-lint", "ansible-runner", "ansible-builder",
              "antsibull-changelog")
NOISE = ("Warning", "WARNING", "[DEPRECATION")


def pinned_names(requirements):
    """The distribution names a requirements file pins."""
    return {line.split("==")[0].strip().lower() for line in requirements.read_text().splitlines()
            if "==" in line and not line.startswith("#")}


@pytest.mark.slow
def test_demo_builds_a_controller_venv_alone_and_runs_without_system_packages(tmp_path):
    # apt-get and sudo on PATH that only record their call: the demo must need neither.
    spy = tmp_path / "spy"
    spy.mkdir()
    calls = tmp_path / "calls"
    for name in ("apt-get", "apt", "sudo"):
        (spy / name).write_text(f'#!/bin/sh\necho "{name} $*" >>{calls}\nexit 1\n')
        (spy / name).chmod(0o755)
    venv = tmp_path / "demo-venv"
    env = dict(os.environ, PATH=f"{spy}{os.pathsep}{os.environ['PATH']}", LOCKSTEP_CONTROLLER=CONTROLLER,
               LOCKSTEP_DEMO_VENV=str(venv), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    argv = [str(REPO_ROOT / "scripts" / "demo"), "-e", f"demo_root={tmp_path}/demo", "-e", "demo_hosts=2"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False,
                           stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("moved ") == 2, first.stdout
    assert not calls.exists(), calls.read_text()

    # A second run reuses the venv, so all it prints is ansible's: no warning of any kind.
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("\nPLAY [Demo"), again.stdout
    printed = again.stdout + again.stderr
    assert [line for line in printed.splitlines() if any(word in line for word in NOISE)] == [], printed

    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True)
    installed = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert [tool for tool in TEST_TOOLS if tool in installed] == []
    assert pinned_names(REPO_ROOT / "requirements" / f"controller-{CONTROLLER}.txt") <= installed
    assert len(installed) <= 20, sorted(installed)


@pytest.mark.parametrize("argv", [("ansible", "--version"),
                                  ("ansible", "localhost", "-m", "ansible.builtin.ping"),
                                  ("ansible-playbook", "lockstep.handoff.demo", "-e", "demo_hosts=1")],
                         ids=["ansible --version", "ansible ping", "ansible-playbook demo"])
def test_ansible_commands_print_no_python_warning(argv, tmp_path):
    env = tool_env(ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   TMPDIR=str(tmp_path), ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.pop("PYTHONWARNINGS", None)
    done = run_tool(*argv, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DeprecationWarning" not in done.stderr + done.stdout, done.stderr
    assert "Warning:" not in done.stderr, done.stderr
