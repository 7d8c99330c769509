# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-core has no mutex: many forks doing a read-modify-write of one shared file lose lines.

The pattern is ``lineinfile`` (or any edit) with ``delegate_to`` one shared host:
every host of the play reads the file, changes it and writes it back, and with
forks the reads and writes interleave. Here 12 pseudo-hosts (local connection,
as ``playbooks/demo.yml`` makes them) each append their own line through the
same read-modify-write, once under ``lockstep.handoff.locked_command`` (every
line survives) and once through plain ``ansible.builtin.command`` (lines are
lost while every task reports success).
"""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import run_playbook, write_playbook

HOSTS = 12
ATTEMPTS = 3
# Read, pause, write a temp, rename it over the file. The pause makes the window
# wide enough that 12 forks starting within a second or two overlap every time.
READ_MODIFY_WRITE = ("import os,sys,time; p=sys.argv[1]; t=open(p).read(); time.sleep(float(sys.argv[3])); "
                     "tmp='%s.%d.tmp' % (p, os.getpid()); open(tmp,'w').write(t+sys.argv[2]+'\\n'); "
                     "os.replace(tmp, p)")
PAUSE = 0.5
PLAY = '''
- name: Create the pseudo-hosts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Add racer1..racerN
      ansible.builtin.add_host:
        name: "racer{{ item }}"
        groups: racers
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
      loop: "{{ range(1, hosts | int + 1) | list }}"
      changed_when: false

- name: Every host appends its line to one shared file
  hosts: racers
  gather_facts: false
  tasks:
    - name: Append under the lock
      lockstep.handoff.locked_command:
        argv: &append ["{{ python }}", -c, "{{ script }}", "{{ shared }}", "line from {{ inventory_hostname }}",
                       "{{ pause }}"]
        lock_path: "{{ shared }}.lock"
        lock_timeout: 300
      when: locked | bool
      delegate_to: localhost

    - name: Append without a lock
      ansible.builtin.command:
        argv: *append
      when: not (locked | bool)
      changed_when: true
      delegate_to: localhost
'''


@pytest.fixture(scope='module')
def race_playbook(tmp_path_factory):
    return write_playbook(PLAY, tmp_path_factory.mktemp('race'))


def append_from_every_host(playbook, inventory, shared, locked):
    """Run the play with ``forks`` = number of hosts; return the lines of the shared file and the run."""
    shared.write_text('')
    run = run_playbook(playbook, inventory,
                       extra_vars={'shared': shared, 'locked': locked, 'hosts': HOSTS, 'pause': PAUSE,
                                   'script': READ_MODIFY_WRITE, 'python': sys.executable},
                       args=('--forks', str(HOSTS)))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    for number in range(1, HOSTS + 1):
        counts = run.counts('racer%d' % number)
        assert counts['failed'] == 0 and counts['changed'] == 1, (number, counts)
    return shared.read_text().splitlines(), run


def test_locked_command_keeps_every_line(race_playbook, localhost_inventory, tmp_path):
    lines, dummy = append_from_every_host(race_playbook, localhost_inventory, tmp_path / 'shared.txt', locked=True)
    assert sorted(lines) == sorted('line from racer%d' % n for n in range(1, HOSTS + 1))


def test_plain_command_loses_lines_while_every_task_succeeds(race_playbook, localhost_inventory, tmp_path):
    kept = []
    for attempt in range(ATTEMPTS):
        lines, dummy = append_from_every_host(race_playbook, localhost_inventory,
                                              tmp_path / ('shared-%d.txt' % attempt), locked=False)
        kept.append(len(lines))
        if len(lines) < HOSTS:
            print('lines kept without a lock, per attempt: %s of %d' % (kept, HOSTS))
            return
    pytest.fail('the unlocked read-modify-write kept all %d lines in each of %d attempts (%s): the race this test '
                'exists to show did not happen, so it proves nothing; widen PAUSE' % (HOSTS, ATTEMPTS, kept))
