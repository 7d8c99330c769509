# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The promote role (one batch locked_move) refuses files whose markers would be one file (one name, one absolute
state_dir).

Moving the first would remove (or move) the marker the second is judged by: the
second would then never be promoted, after the first already was. Refused
before anything is waited for or moved.
"""

from __future__ import annotations

from tests.support.ansible_run import run_playbook, write_playbook

PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: lockstep.handoff.promote
      vars:
        handoff_promote_files: "{{ files }}"
        handoff_promote_state_dir: "{{ state }}"
        handoff_promote_timeout: 2
'''


def scene(tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    for inbox in ('in1', 'in2'):
        (tmp_path / inbox).mkdir()
        (tmp_path / inbox / 'site.conf').write_text(inbox + '\n')
    (state / 'site.conf.done').write_bytes(b'')
    files = [dict(src=str(tmp_path / inbox / 'site.conf'), dest=str(tmp_path / ('out' + inbox[-1]) / 'site.conf'))
             for inbox in ('in1', 'in2')]
    return state, files


def test_two_files_judged_by_one_marker_are_refused_before_any_move(localhost_inventory, tmp_path):
    state, files = scene(tmp_path)
    run = run_playbook(write_playbook(PLAY, tmp_path), localhost_inventory, dict(files=files, state=str(state)))
    assert run.returncode != 0, 'promoted with one marker for two files:\n' + run.stdout
    assert str(state / 'site.conf.done') in run.stdout, run.stdout
    assert [open(entry['src']).read() for entry in files] == ['in1\n', 'in2\n'], 'a file was moved'
    assert (state / 'site.conf.done').exists()


def test_files_of_one_name_with_explicit_markers_are_promoted(localhost_inventory, tmp_path):
    state, files = scene(tmp_path)
    (state / 'site.conf.done').rename(state / 'one.done')
    (state / 'two.done').write_bytes(b'')
    files[0]['marker_path'], files[1]['marker_path'] = str(state / 'one.done'), str(state / 'two.done')
    run = run_playbook(write_playbook(PLAY, tmp_path), localhost_inventory, dict(files=files, state=str(state)))
    assert run.returncode == 0, run.stdout + run.stderr
    assert [open(entry['dest']).read() for entry in files] == ['in1\n', 'in2\n']
