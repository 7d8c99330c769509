# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_defaults for the collection's action groups in a real playbook over ssh.

The Redis settings are given once for ``group/lockstep.handoff.handoff`` and the lock settings once for
``group/lockstep.handoff.locking``; no task names a Redis server or a lock type. Every member must take
them (or the task fails with "Unsupported parameters") and use them: the leases and the state stream land
under the group's key prefix, and lock_info, in neither group, runs beside them untouched.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR

PREFIX = 'groups-test:'
PLAYBOOK = """
- name: Every module of the groups from module_defaults alone
  hosts: h1
  gather_facts: false
  module_defaults:
    group/lockstep.handoff.handoff:
      redis_host: 127.0.0.1
      redis_port: "{{ redis_port }}"
      redis_password: "{{ redis_password }}"
      redis_key_prefix: "%s"
    group/lockstep.handoff.locking:
      lock_type: redis
      lock_timeout: 20
      lock_lease_ttl: 30
  tasks:
    - name: Publish under a lease, mirroring the state
      lockstep.handoff.atomic_upload:
        content: "grouped\\n"
        dest: "{{ root }}/a.txt"
        lock: true
        redis_state: true
      register: published
    - name: Wait for it through the Redis state
      lockstep.handoff.wait_for_marker:
        path: "{{ root }}/a.txt"
        redis_state_host: h1
        timeout: 20
      register: seen
    - name: Move it under a lease
      lockstep.handoff.locked_move:
        src: "{{ root }}/a.txt"
        dest: "{{ root }}/b.txt"
      register: moved
    - name: Run a command under a lease
      lockstep.handoff.locked_command:
        argv: [sh, -c, 'echo "$LOCKSTEP_FENCING_TOKEN"']
        lock_path: groups/command
      register: command
    - name: Look at the directory's locks, with no group default reaching it
      lockstep.handoff.lock_info:
        path: "{{ root }}"
      register: info
    - name: Show the results
      ansible.builtin.debug:
        msg: "results={{ [published, seen, moved, command, info] | to_json }}"
""" % PREFIX
RESULTS = re.compile(r'"results=(\[.*\])"$', re.M)


@pytest.mark.fleet
def test_group_defaults_reach_and_mean_the_same_to_every_member(fleet, ansible_playbook, redis_server):
    host = fleet.hosts["h1"]
    with scratch_dir([host], DATA_DIR, "groups") as root:
        run = ansible_playbook(PLAYBOOK, extra_vars={"root": root, "redis_port": redis_server.port,
                                                     "redis_password": redis_server.password})
        assert run.returncode == 0, run.stdout[-6000:]
        assert host.read_bytes(f"{root}/b.txt") == b"grouped\n"
    published, seen, moved, command, info = json.loads(json.loads('"%s"' % RESULTS.search(run.stdout).group(1)))

    assert published["redis_state_key"].startswith(PREFIX + "state:"), published
    assert seen["sha256"] == published["sha256"]
    # A fencing token exists only under a Redis lease: the group's lock_type reached all three.
    tokens = [published.get("fencing_token"), moved.get("fencing_token"), int(command["stdout"] or 0)]
    assert all(isinstance(token, int) and token >= 1 for token in tokens), tokens
    assert info["changed"] is False and not info.get("failed")
    keys = redis_server.command("KEYS", "*")
    assert keys and all(key.startswith(PREFIX) for key in keys), keys
