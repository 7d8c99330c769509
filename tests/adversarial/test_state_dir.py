# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A relative ``state_dir`` inside a shared inbox: the attacker swaps the state directory for a symlink.

``state_dir: .handoff`` puts markers and locks in a subdirectory of the hand-off
directory. In a 2775 inbox any member of its group may rename that subdirectory
away and plant a symlink to a directory of root's at its name. Every module and
``handoff.sh`` must then refuse (at most fail), and create, change or lock nothing
in the directory the link points to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.ansible_run import local_inventory, run_playbook, write_playbook

from .arena import SHARED_MODE
from .attacker import GROUP, USER
from .targets import run_handoff_sh, run_module
from .test_options import snapshot

PAYLOAD = b'published before the state directory was swapped\n'


def as_attacker(*argv):
    """Run ``argv`` as the attacking user (a real second uid in the inbox's group)."""
    subprocess.run(argv, check=True, user=USER, group=GROUP, extra_groups=[], capture_output=True)


@pytest.fixture
def scene(attacker):
    """A root source with its marker, a 2775 inbox whose ``.handoff`` the attacker swapped for a symlink to a
    root-only directory (0700, holding one file) the task must leave alone. Below /tmp, which the attacker can
    traverse (pytest's tmp_path is root-only)."""
    dummy, gid = attacker
    tmp_path = Path(tempfile.mkdtemp(prefix='lockstep-state-dir-'))
    os.chmod(tmp_path, 0o755)
    source = tmp_path / 'source'
    source.mkdir(mode=0o700)
    (source / 'data.bin').write_bytes(PAYLOAD)
    (source / '.handoff').mkdir(mode=0o700)
    (source / '.handoff' / 'data.bin.done').write_bytes(b'')
    inbox = tmp_path / 'inbox'
    inbox.mkdir()
    os.chown(inbox, 0, gid)
    os.chmod(inbox, SHARED_MODE)
    (inbox / '.handoff').mkdir(mode=0o755)
    victim = tmp_path / 'victim'
    victim.mkdir(mode=0o700)
    (victim / 'keep').write_bytes(b'root-only\n')
    as_attacker('mv', str(inbox / '.handoff'), str(inbox / '.handoff-gone'))
    as_attacker('ln', '-s', str(victim), str(inbox / '.handoff'))
    scratch = tmp_path / 'scratch'
    scratch.mkdir(mode=0o700)
    yield dict(source=source, inbox=inbox, victim=victim, scratch=scratch, before=snapshot(victim))
    shutil.rmtree(tmp_path)


def assert_nothing_in_victim(scene, run):
    assert not run.hung, run.msg
    assert snapshot(scene['victim']) == scene['before'], (
        'the task wrote into the directory the swapped state_dir points to: %s (task: %s)'
        % (sorted(os.listdir(scene['victim'])), run.result))


def test_locked_move_into_inbox_takes_no_lock_through_a_swapped_state_dir(scene):
    run = run_module('locked_move', dict(src=str(scene['source'] / 'data.bin'), dest=str(scene['inbox'] / 'data.bin'),
                                         state_dir='.handoff',
                                         lock_timeout=2), scene['scratch'])
    assert_nothing_in_victim(scene, run)
    assert run.clear_failure, 'not refused: %s' % (run.result,)


def test_atomic_upload_takes_no_lock_through_a_swapped_state_dir(scene):
    options = dict(dest=str(scene['inbox'] / 'data.bin'), state_dir='.handoff', lock=True, lock_timeout=2,
                   _sha256=hashlib.sha256(PAYLOAD).hexdigest(), _size=len(PAYLOAD), _phase='probe', _direct=False)
    run = run_module('atomic_upload', options, scene['scratch'])
    assert_nothing_in_victim(scene, run)
    assert run.clear_failure, 'not refused: %s' % (run.result,)


def test_handoff_sh_move_into_inbox_takes_no_lock_through_a_swapped_state_dir(scene):
    run = run_handoff_sh(['move', scene['source'] / 'data.bin', scene['inbox'] / 'data.bin'], scene['scratch'],
                         env=dict(HANDOFF_STATE_DIR='.handoff'))
    assert_nothing_in_victim(scene, run)
    assert run.clear_failure, 'not refused: %s' % (run.result,)


DELIVER_PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: lockstep.handoff.deliver
      vars:
        handoff_deliver_files:
          - content: "release=1.4.2\\n"
            dest: "{{ inbox }}/RELEASE"
        handoff_deliver_state_dir: .handoff
        handoff_deliver_dir_mode: "0755"
'''


def test_deliver_role_changes_no_mode_through_a_swapped_state_dir(scene):
    """The role creates the directories it needs with ``handoff_deliver_dir_mode``: never on a symlink's target."""
    playbook = write_playbook(DELIVER_PLAY, scene['scratch'])
    run = run_playbook(playbook, local_inventory(scene['scratch']), extra_vars=dict(inbox=scene['inbox']))
    assert oct(os.stat(scene['victim']).st_mode & 0o7777) == oct(0o700), (
        'the role changed the mode of the directory the swapped state_dir points to\n' + run.stdout)
    assert snapshot(scene['victim']) == scene['before'], sorted(os.listdir(scene['victim']))
    assert run.returncode != 0 and '.handoff' in run.stdout, 'not refused:\n' + run.stdout


def test_wait_for_marker_reads_no_marker_through_a_swapped_state_dir(scene):
    """A root-only marker of the same name where the link leads is neither read nor shown."""
    secret = 'private-producer-%s' % os.getpid()
    private = dict(protocol='lockstep.handoff/1', state='complete', size=len(PAYLOAD), producer=secret,
                   sha256=hashlib.sha256(PAYLOAD).hexdigest(), written_at='2026-01-01T00:00:00Z')
    (scene['victim'] / 'data.bin.done').write_text(json.dumps(private))
    os.chmod(scene['victim'] / 'data.bin.done', 0o600)
    scene['before'] = snapshot(scene['victim'])
    (scene['inbox'] / 'data.bin').write_bytes(PAYLOAD)
    run = run_module('wait_for_marker', dict(path=str(scene['inbox'] / 'data.bin'), state_dir='.handoff', timeout=1,
                                             sleep=0.2), scene['scratch'])
    assert_nothing_in_victim(scene, run)
    assert secret not in run.output, 'the task read and showed a root-only file the link leads to: %s' % run.output
    assert run.clear_failure, 'not refused: %s' % (run.result,)
