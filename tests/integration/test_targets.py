# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run every integration target under tests/integration/targets with real ansible-playbook.

The targets are ansible-test integration targets (roles); here each one runs as
a play on localhost. Pipelining is on under ansible-core 2.19 and off under 2.21,
so a full run of the suite covers both module transports (the fleet tests run both
on each controller over ssh).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.release import __version__ as ansible_core_version

from tests.support.ansible_run import run_playbook, write_playbook

TARGETS_DIR = Path(__file__).parent / 'targets'
TARGETS = sorted(p.name for p in TARGETS_DIR.iterdir() if (p / 'tasks' / 'main.yml').is_file())
PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - {target}
'''


PIPELINING = 'True' if ansible_core_version.startswith('2.19.') else 'False'


@pytest.mark.parametrize('target', TARGETS)
def test_target(target, localhost_inventory, tmp_path):
    playbook = write_playbook(PLAY.format(target=target), tmp_path)
    run = run_playbook(playbook, localhost_inventory,
                       env={'ANSIBLE_ROLES_PATH': str(TARGETS_DIR), 'ANSIBLE_PIPELINING': PIPELINING})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    counts = run.counts('localhost')
    assert counts['failed'] == 0 and counts['unreachable'] == 0
    assert counts['ok'] > 10
