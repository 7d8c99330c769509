# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The five modules under every target Python 3.8-3.13, on a real SSH host, with the real pyenv builds.

The interpreters live under /root/.pyenv/versions, and /root is 0700: the hosts'
login user cannot reach them. Loosening /root on the machine is not acceptable,
so one private host gets its own view instead: inside that host's mount
namespace only, a 0755 tmpfs covers /root and the real versions directory is
bound read-only beneath it. Each interpreter then runs from its own build path
(its RUNPATH points at its libpython there), the machine's /root is untouched,
and the view vanishes with the host.

All interpreters run in one playbook and one test (so that pytest-xdist cannot
split them over workers, each starting its own host): the inventory gets one
alias of the host per interpreter, so the modules run under all of them in parallel.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible.release import __version__ as ansible_core_version

from tests.support.fleet_runs import ResultLog

from .harness import DATA_DIR, Fleet, HostSpec, run_playbook

CORE_VERSION = tuple(int(part) for part in ansible_core_version.split(".")[:2])
# ansible-core 2.21 dropped target Python 3.8.
OLDEST_TARGET = (3, 8) if CORE_VERSION < (2, 21) else (3, 9)
PYENV_VERSIONS = Path("/root/.pyenv/versions")
MINORS = (8, 9, 10, 11, 12, 13)
ROOT = f"{DATA_DIR}/matrix"
EXPOSE_PYENV = f"""set -e
stage=$(mktemp -d {DATA_DIR}/.pyenv.XXXXXX)
mount --bind {PYENV_VERSIONS} "$stage"
mount -o remount,bind,ro "$stage"
mount -t tmpfs -o mode=0755,size=64k tmpfs /root
mkdir -p {PYENV_VERSIONS}
mount --move "$stage" {PYENV_VERSIONS}
rmdir "$stage"
"""
PLAYBOOK = """
- name: The modules under each interpreter
  hosts: pythons
  gather_facts: false
  vars:
    data: "{{ root }}/{{ inventory_hostname }}.txt"
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        content: "published by {{ ansible_python_interpreter }}\\n"
        dest: "{{ data }}"
    - name: Wait for the marker
      lockstep.handoff.wait_for_marker:
        path: "{{ data }}"
        timeout: 600
    - name: Move
      lockstep.handoff.locked_move:
        src: "{{ data }}"
        dest: "{{ data }}.moved"
    - name: Run a command under the lock
      lockstep.handoff.locked_command:
        argv: [cp, "{{ data }}.moved", "{{ data }}.copied"]
        creates: "{{ data }}.copied"
        lock_path: "{{ data }}.lock"
    - name: Look at the lock
      lockstep.handoff.lock_info:
        path: "{{ data }}.lock"
    - name: Report the interpreter
      ansible.builtin.setup:
        gather_subset: ["!all", "!min", "python"]
"""


def interpreter(minor):
    """The newest pyenv build of Python 3.<minor> on this machine, or None."""
    found = sorted(PYENV_VERSIONS.glob(f"3.{minor}.*/bin/python3.{minor}"))
    return found[-1] if found else None


def alias(minor):
    """The inventory name of the host under Python 3.<minor>."""
    return f"py3{minor}"


def matrix_inventory(host, interpreters, directory):
    """One alias of ``host`` per interpreter, in a group ``pythons``."""
    lines = ["[pythons]"] + [f"{alias(minor)} ansible_host={host.address} ansible_python_interpreter={path}"
                             for minor, path in interpreters.items()]
    path = Path(directory) / "pythons.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def interpreter_that_ran(log, name):
    """(major, minor) and executable of the Python that ran the modules on alias ``name``, from its facts."""
    python = log.one("Report the interpreter", name)["result"]["ansible_facts"]["ansible_python"]
    return (python["version"]["major"], python["version"]["minor"]), python["executable"]


def test_modules_under_every_target_python(fleet_machine, tmp_path):
    """Invariant: under every supported target Python (3.8-3.13; 3.9-3.13 on ansible-core 2.21) the five
    modules publish, wait, move, run a command under a lock and look at that lock, and really ran under that interpreter; under 3.8 on 2.21, ansible's own
    clear unsupported-interpreter error stops the task before our code runs. locked_command copies the moved
    file under the lock locked_move took, and lock_info finds that lock free. A missing interpreter skips
    the test after the others were checked, and fails it in CI, where a skip would hide a gap."""
    interpreters = {minor: interpreter(minor) for minor in MINORS if interpreter(minor)}
    unsupported = "Ansible requires Python %s or newer on the target" % ".".join(map(str, OLDEST_TARGET))
    log = ResultLog(tmp_path / "results.jsonl")
    with Fleet.start([HostSpec("py")]) as fleet:
        host = fleet.hosts["py"]
        host.run(EXPOSE_PYENV, user="root")
        host.run(f"mkdir {ROOT}")
        run = run_playbook(fleet, PLAYBOOK, "-i", str(matrix_inventory(host, interpreters, tmp_path)),
                           "--forks", str(len(interpreters)), extra_vars={"root": ROOT},
                           env={"ANSIBLE_PIPELINING": "True", **log.env()})
        for minor, path in interpreters.items():
            name = alias(minor)
            if (3, minor) < OLDEST_TARGET:
                failed = log.one("Publish", name)
                assert failed["status"] == "failed" and unsupported in failed["result"]["msg"], failed
                assert run.recap[name]["failed"] == 1
                continue
            for task in ("Publish", "Wait for the marker", "Move", "Run a command under the lock", "Look at the lock"):
                assert log.one(task, name)["status"] == "ok", log.one(task, name)
            assert log.one("Run a command under the lock", name)["result"]["changed"] is True
            lock = f"{ROOT}/{name}.txt.lock"
            assert [(entry["path"], entry["exists"], entry["held"])
                    for entry in log.one("Look at the lock", name)["result"]["locks"]] == [(lock, True, False)]
            assert interpreter_that_ran(log, name) == ((3, minor), str(path))
            for copy in ("moved", "copied"):
                assert host.read_bytes(f"{ROOT}/{name}.txt.{copy}") == f"published by {path}\n".encode()
            assert not host.exists(f"{ROOT}/{name}.txt") and not host.exists(f"{ROOT}/{name}.txt.done")
    missing = [f"3.{minor}" for minor in MINORS if minor not in interpreters]
    if missing:
        reason = f"no pyenv build of Python {', '.join(missing)} under {PYENV_VERSIONS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the matrix must be complete)", pytrace=False)
        pytest.skip(reason)
