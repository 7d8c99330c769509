# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lock on a network filesystem can exclude nobody; the modules must refuse it, not run unlocked.

sshfs is a real FUSE network filesystem: a host's /srv/handoff mounted on the
controller. flock(2) there is local to each side, which the first test shows
with two flock(1) holders at once; the second shows locked_move refusing.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.ansible_run import local_inventory, run_playbook, write_playbook

from .harness import DATA_DIR, LOGIN_USER, SSH_OPTIONS


@pytest.fixture
def sshfs_mount(fleet, tmp_path):
    """h1's /srv/handoff mounted on the controller over sshfs; unmounted afterwards."""
    host = fleet.hosts['h1']
    host.run('mkdir -p %s/sshfs' % DATA_DIR)
    point = tmp_path / 'h1'
    point.mkdir()
    options = ','.join(['IdentityFile=%s' % fleet.private_key, 'BatchMode=yes']
                       + [value for value in SSH_OPTIONS if value != '-o'])
    subprocess.run(['sshfs', '-o', options, '%s@%s:%s/sshfs' % (LOGIN_USER, host.address, DATA_DIR), str(point)],
                   check=True, capture_output=True, timeout=30)
    yield point
    subprocess.run(['fusermount3', '-u', str(point)], check=False, capture_output=True)


def test_flock_over_sshfs_excludes_nobody(fleet, sshfs_mount):
    """Invariant shown: with the lock file on sshfs, a holder on the host and one on the controller coexist."""
    host = fleet.hosts['h1']
    host.run('flock %s/sshfs/x.lock sleep 10 >/dev/null 2>&1 &' % DATA_DIR)
    deadline = time.monotonic() + 10
    while host.run('flock -n %s/sshfs/x.lock true' % DATA_DIR, check=False).returncode == 0:
        assert time.monotonic() < deadline, 'flock(1) on the host never took the lock'
        time.sleep(0.05)
    local = subprocess.run(['flock', '-n', str(sshfs_mount / 'x.lock'), 'true'], check=False, timeout=10)
    assert local.returncode == 0, 'the controller could not lock: sshfs passed the lock through after all'


def test_locked_move_refuses_a_lock_on_sshfs_and_warns_when_told(fleet, sshfs_mount, tmp_path):
    """Invariant: a lock that would exclude nobody fails the task, naming the filesystem; warn mode says so."""
    (tmp_path / 'x').write_text('data\n')
    play = write_playbook('''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Move with the lock on sshfs
      lockstep.handoff.locked_move:
        src: "{{ src }}"
        dest: "{{ dest }}"
        require_marker: false
        lock_path: "{{ lock }}"
        lock_on_network_fs: "{{ policy }}"
''', tmp_path)
    inventory = local_inventory(tmp_path)
    paths = {'src': tmp_path / 'x', 'dest': tmp_path / 'y', 'lock': sshfs_mount / 'y.lock'}
    refused = run_playbook(play, inventory, dict(paths, policy='fail'))
    assert refused.returncode != 0
    assert 'is on fuse.sshfs' in refused.stdout and 'FUSE filesystem' in refused.stdout
    assert (tmp_path / 'x').exists() and not (tmp_path / 'y').exists()
    warned = run_playbook(play, inventory, dict(paths, policy='warn'))
    assert warned.returncode == 0, warned.stdout
    assert 'FUSE filesystem' in warned.stderr
    assert (tmp_path / 'y').read_text() == 'data\n'
