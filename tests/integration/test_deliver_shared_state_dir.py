# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""An absolute state_dir holds the markers of every directory by file name: two files of one name would share one.

The second publish would replace the first file's marker with its own, so the
first file never looks complete to a consumer (and a consumer that checks only
the size could take it on the other file's marker). The role refuses such a
plan before it publishes anything.
"""

from __future__ import annotations

from tests.support.ansible_run import run_playbook, write_playbook

PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: lockstep.handoff.deliver
      vars:
        handoff_deliver_files: "{{ files }}"
        handoff_deliver_state_dir: "{{ state }}"
'''


def test_two_files_of_one_name_with_one_absolute_state_dir_are_refused(localhost_inventory, tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    files = [dict(content='one\n', dest=str(tmp_path / 'a' / 'site.conf')),
             dict(content='two two\n', dest=str(tmp_path / 'b' / 'site.conf'))]
    run = run_playbook(write_playbook(PLAY, tmp_path), localhost_inventory, dict(files=files, state=str(state)))
    assert run.returncode != 0, 'published both; their shared marker describes only one:\n' + run.stdout
    assert str(state / 'site.conf.done') in run.stdout and files[0]['dest'] in run.stdout, run.stdout
    assert list(state.iterdir()) == [], 'a marker was written before the refusal: %s' % list(state.iterdir())


def test_files_of_one_name_with_a_relative_state_dir_are_published(localhost_inventory, tmp_path):
    files = [dict(content='one\n', dest=str(tmp_path / 'a' / 'site.conf')),
             dict(content='two two\n', dest=str(tmp_path / 'b' / 'site.conf'))]
    run = run_playbook(write_playbook(PLAY, tmp_path), localhost_inventory, dict(files=files, state='.handoff'))
    assert run.returncode == 0, run.stdout + run.stderr
    for entry in files:
        assert open(entry['dest']).read() == entry['content']
