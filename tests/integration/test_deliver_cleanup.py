# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deliver role passes its cleanup option through: old leftover temps go, fresh ones stay."""

from __future__ import annotations

import os
import time

from tests.support.ansible_run import run_playbook, write_playbook

PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: lockstep.handoff.deliver
      vars:
        handoff_deliver_files:
          - content: "listen 80\\n"
            dest: "{{ dest }}"
        handoff_deliver_cleanup_temps_older_than: 3600
'''


def test_deliver_removes_old_leftover_temps_only(localhost_inventory, tmp_path):
    dest = tmp_path / 'site.conf'
    old = tmp_path / '.site.conf.0123456789ab.tmp'
    fresh = tmp_path / '.site.conf.ba9876543210.tmp'
    for temp in (old, fresh):
        temp.write_text('partial')
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    run = run_playbook(write_playbook(PLAY, tmp_path), localhost_inventory, {'dest': dest})
    assert run.returncode == 0, run.stdout + run.stderr
    assert dest.read_text() == 'listen 80\n'
    assert not old.exists()
    assert fresh.exists()
