"""Run every integration target under tests/integration/targets with real ansible-playbook.

The targets are ansible-test integration targets (roles); here each one runs as
a play on localhost, once with pipelining and once without.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ansible_run import run_playbook, write_playbook

TARGETS_DIR = Path(__file__).parent / 'targets'
TARGETS = sorted(p.name for p in TARGETS_DIR.iterdir() if (p / 'tasks' / 'main.yml').is_file())
PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - {target}
'''


@pytest.mark.parametrize('pipelining', ['True', 'False'], ids=['pipelining', 'no-pipelining'])
@pytest.mark.parametrize('target', TARGETS)
def test_target(target, pipelining, localhost_inventory, tmp_path):
    playbook = write_playbook(PLAY.format(target=target), tmp_path)
    run = run_playbook(playbook, localhost_inventory,
                       env={'ANSIBLE_ROLES_PATH': str(TARGETS_DIR), 'ANSIBLE_PIPELINING': pipelining})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    counts = run.counts('localhost')
    assert counts['failed'] == 0 and counts['unreachable'] == 0
    assert counts['ok'] > 10
