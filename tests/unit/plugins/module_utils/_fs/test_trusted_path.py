# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Direct transfer and by-name attributes only where no user but this one and root can replace names."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.trusted_path import others_can_replace
from tests.support.hostile_user import shared_directory


def test_a_private_directory_is_trusted(tmp_path):
    assert others_can_replace(str(tmp_path)) is None


def test_a_group_writable_directory_is_not(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    assert others_can_replace(str(shared)) == '%s is writable by its group (mode 2775)' % shared


def test_a_directory_below_a_group_writable_one_is_not(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    (shared / 'mine').mkdir(mode=0o755)
    assert 'writable by its group' in others_can_replace(str(shared / 'mine'))


def test_a_world_writable_sticky_directory_is_trusted_for_entries_of_this_user(tmp_path):
    sticky = tmp_path / 'sticky'
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    assert others_can_replace(str(sticky)) is None


def test_another_users_directory_is_not(attacker, tmp_path):
    theirs = tmp_path / 'theirs'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, attacker.uid, attacker.gid)
    assert others_can_replace(str(theirs)) == '%s is owned by uid %d, not by this user or root' % (theirs, attacker.uid)


def test_a_symlink_on_the_way_is_judged_with_the_directory_holding_it(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    private = tmp_path / 'private'
    private.mkdir(mode=0o755)
    (shared / 'link').symlink_to(private)
    assert 'writable by its group' in others_can_replace(str(shared / 'link'))


def test_an_acl_granting_another_user_write_is_seen_through_the_group_bits(attacker, tmp_path):
    """A named ACL entry is bounded by the mask, which the group bits of the mode show."""
    if not shutil.which('setfacl'):
        pytest.skip('setfacl is not installed')
    directory = tmp_path / 'acl'
    directory.mkdir(mode=0o755)
    done = subprocess.run(['setfacl', '-m', 'u:%s:rwx' % attacker.name, str(directory)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip('this filesystem takes no ACLs: %s' % done.stderr.strip())
    assert 'writable by its group' in others_can_replace(str(directory))
