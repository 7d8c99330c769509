# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""SIGKILL ansible-playbook at seeded random points of an upload: never a partial file, re-runs converge."""

from __future__ import annotations

import os
import random
import subprocess
import time

from tests.support.ansible_run import ansible_env, playbook_command, run_playbook, write_playbook
from tests.support.handoff_state import assert_consistent, sha256_bytes, snapshot
from tests.support.processes import kill_tree

TRIALS = 12
SEED = 20261123
SIZE = 48 * 1024 * 1024
PLAY = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ dest }}"
      register: published
'''


def test_sigkill_mid_upload_never_exposes_partial_data(localhost_inventory, tmp_path):
    rng = random.Random(SEED)
    versions = {}
    for name in ('v1', 'v2'):
        data = os.urandom(SIZE)
        (tmp_path / name).write_bytes(data)
        versions[name] = sha256_bytes(data)
    (tmp_path / 'dest').mkdir()
    dest = tmp_path / 'dest' / 'payload.bin'
    playbook = write_playbook(PLAY, tmp_path)

    started = time.monotonic()
    first = run_playbook(playbook, localhost_inventory, {'src': tmp_path / 'v1', 'dest': dest})
    full_run = time.monotonic() - started
    assert first.returncode == 0, first.stdout
    current = 'v1'

    outcomes = []
    for dummy in range(TRIALS):
        target = 'v2' if current == 'v1' else 'v1'
        command = playbook_command(playbook, localhost_inventory, {'src': tmp_path / target, 'dest': dest})
        process = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, full_run * 1.1))
        kill_tree(process.pid)
        process.wait()

        state = snapshot(dest)
        assert_consistent(state, set(versions.values()))
        outcomes.append((state['sha256'] == versions[target], state['marker'] is not None, len(state['temps'])))

        rerun = run_playbook(playbook, localhost_inventory, {'src': tmp_path / target, 'dest': dest})
        assert rerun.returncode == 0, rerun.stdout
        if state['temps']:
            assert 'interrupted uploads' in rerun.stdout + rerun.stderr, 'leftover temp files were not reported'
        final = snapshot(dest)
        assert_consistent(final, {versions[target]})
        assert final['sha256'] == versions[target] and final['marker'] is not None
        for temp in final['temps']:
            os.unlink(dest.parent / temp)
        current = target

    print('kill outcomes (new data?, marker?, temps):', outcomes)
