# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's modules run pipelined by default where no become is in use, and as told otherwise.

At -vvv ansible-core logs a module run that is not pipelined as an ssh EXEC of
``python .../AnsiballZ_<module>.py``, and a pipelined one as an EXEC of python
alone, the module named by the "Using module file" line before it;
``bench.playbook.module_runs`` counts both. With ``pipelining`` left at
ansible-core's default, lock_info, locked_move (no action plugin of their own)
and atomic_upload run pipelined while a builtin module does not; ``pipelining``
set off (environment, inventory or extra variable) or become keeps them on
AnsiballZ files, as any module.
"""

from __future__ import annotations

import re

import pytest

from bench.playbook import module_runs
from tests.support.host_handoff import scratch_dir

from .harness import BECOME_USER, DATA_DIR, run_playbook

PLAY = """
- name: Modules of the collection and one of ansible-core
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        content: "pipelined\\n"
        dest: "{{ root }}/data.txt"
    - name: Move
      lockstep.handoff.locked_move:
        src: "{{ root }}/data.txt"
        dest: "{{ root }}/moved.txt"
    - name: Look at the lock
      lockstep.handoff.lock_info:
        path: "{{ root }}/moved.txt"
    - name: Ping
      ansible.builtin.ping:
"""
ANSIBALLZ = re.compile(r"SSH: EXEC .*?python[\d.]* \S*/AnsiballZ_(\w+)\.py")
OURS = ("atomic_upload", "locked_move", "lock_info")


@pytest.mark.parametrize("setting, env, args, pipelined", [
    ("left at the default", {}, (), True),
    ("off in the environment", {"ANSIBLE_PIPELINING": "False"}, (), False),
    ("off as an extra variable", {}, ("-e", "ansible_pipelining=false"), False),
    ("with become", {}, ("-e", "ansible_become=true", "-e", f"ansible_become_user={BECOME_USER}"), False),
])
def test_the_collections_modules_are_pipelined_unless_told_otherwise_or_become(
        fleet, monkeypatch, setting, env, args, pipelined):
    monkeypatch.delenv("ANSIBLE_PIPELINING", raising=False)
    host = fleet.hosts["h1"]
    with scratch_dir([host], DATA_DIR, "pipelining") as root:
        host.run(f"chmod 1777 {root}")  # the become user writes there too
        run = run_playbook(fleet, PLAY, "-vvv", *args, extra_vars={"root": root}, env=env)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert host.read_bytes(f"{root}/moved.txt") == b"pipelined\n"
    runs = module_runs(run.stdout, host.address)
    assert runs == {"atomic_upload": 2, "locked_move": 1, "lock_info": 1, "ping": 1}, (setting, dict(runs))
    on_files = set(ANSIBALLZ.findall(run.stdout))
    # ansible-core's own modules follow the setting alone: off here.
    assert "ping" in on_files, setting
    assert (not on_files & set(OURS)) is pipelined, (setting, on_files)
