# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A new file takes its attributes through its fd: the old file's (when ours or root's), then the task's."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import (
    apply_file_attributes, inherit_attributes, marker_attributes, set_marker_attributes)
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from tests.support.hostile_user import canary_file, shared_directory, unchanged


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def new_file(tmp_path):
    """An open fd of a fresh 0600 file ``new``, closed when the test ends."""
    path = tmp_path / 'new'
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    yield fd
    os.close(fd)


def module_with(make_module, check_mode=False, **options):
    return make_module({}, check_mode=check_mode, **options)


def test_new_file_takes_the_mode_of_the_file_it_replaces(tmp_path, new_file):
    (tmp_path / 'old').write_bytes(b'')
    os.chmod(tmp_path / 'old', 0o604)
    inherit_attributes(new_file, os.lstat(tmp_path / 'old'))
    assert mode_of(tmp_path / 'new') == 0o604


def test_new_file_with_nothing_to_replace_gets_0666_minus_umask(tmp_path, new_file):
    previous = os.umask(0o022)
    try:
        inherit_attributes(new_file, None)
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / 'new') == 0o644


def test_a_symlink_being_replaced_lends_nothing(tmp_path, new_file):
    (tmp_path / 'target').write_bytes(b'')
    os.chmod(tmp_path / 'target', 0o600)
    (tmp_path / 'old').symlink_to(tmp_path / 'target')
    previous = os.umask(0o002)
    try:
        inherit_attributes(new_file, os.lstat(tmp_path / 'old'))
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / 'new') == 0o664


def test_root_gives_the_new_file_the_group_of_its_own_old_file(as_root, tmp_path, new_file):
    (tmp_path / 'old').write_bytes(b'')
    os.chown(tmp_path / 'old', 0, 65534)
    os.chmod(tmp_path / 'old', 0o640)
    inherit_attributes(new_file, os.lstat(tmp_path / 'old'))
    st = os.stat(tmp_path / 'new')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 65534, 0o640)


def test_another_users_old_file_lends_neither_mode_nor_owner(attacker, tmp_path, new_file):
    """An attacker pre-creating dest 0666 must not get root's secret published 0666 and owned by them."""
    (tmp_path / 'old').write_bytes(b'')
    os.chown(tmp_path / 'old', attacker.uid, attacker.gid)
    os.chmod(tmp_path / 'old', 0o666)
    previous = os.umask(0o077)
    try:
        inherit_attributes(new_file, os.lstat(tmp_path / 'old'))
    finally:
        os.umask(previous)
    st = os.stat(tmp_path / 'new')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)


@pytest.mark.parametrize('mode, expected', [('0640', 0o640), (0o604, 0o604), ('u=rw,g=r', 0o640), ('u+x', 0o700)])
def test_task_mode_octal_or_symbolic_is_set_through_the_fd(make_module, tmp_path, new_file, mode, expected):
    module = module_with(make_module, mode=mode)
    assert apply_file_attributes(module, new_file, str(tmp_path / 'new')) is True
    assert mode_of(tmp_path / 'new') == expected
    assert apply_file_attributes(module, new_file, str(tmp_path / 'new')) is False


def test_check_mode_reports_a_change_without_making_it(make_module, tmp_path, new_file):
    module = module_with(make_module, check_mode=True, mode='0644')
    assert apply_file_attributes(module, new_file, str(tmp_path / 'new')) is True
    assert mode_of(tmp_path / 'new') == 0o600


def test_owner_and_group_by_name_or_id(as_root, make_module, tmp_path, new_file):
    module = module_with(make_module, owner='nobody', group='65534')
    assert apply_file_attributes(module, new_file, str(tmp_path / 'new')) is True
    st = os.stat(tmp_path / 'new')
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_unknown_owner_is_named_in_the_error(make_module, tmp_path, new_file):
    with pytest.raises(HandoffError, match='owner no-such-user-here is not a user'):
        apply_file_attributes(module_with(make_module, owner='no-such-user-here'), new_file, str(tmp_path / 'new'))


def test_temp_swapped_for_a_symlink_changes_only_the_file_held(attacker, make_module, tmp_path):
    """The become attack: the temp's name now points at a root-only file; chmod/chown must not reach it."""
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    temp = shared / '.x.0123456789ab.tmp'
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.rename(temp, shared / 'kept')
        temp.symlink_to(canary)
        module = module_with(make_module, mode='0666', owner=attacker.name)
        apply_file_attributes(module, fd, str(temp), like=os.lstat(shared / 'kept'), inherit=True)
    finally:
        os.close(fd)
    assert unchanged(canary)
    st = os.lstat(shared / 'kept')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (attacker.uid, 0o666)


def test_chattr_attributes_are_refused_where_another_user_can_replace_the_name(attacker, make_module, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    (shared / 'new').write_bytes(b'')
    fd = os.open(shared / 'new', os.O_RDONLY)
    try:
        with pytest.raises(HandoffError, match='applied by name'):
            apply_file_attributes(module_with(make_module, attributes='+i'), fd, str(shared / 'new'))
    finally:
        os.close(fd)


def test_a_marker_is_no_wider_than_its_data(tmp_path):
    (tmp_path / 'secret').write_bytes(b'')
    os.chmod(tmp_path / 'secret', 0o700)
    st = os.stat(tmp_path / 'secret')
    assert marker_attributes(st) == (0o600, (st.st_uid, st.st_gid))


def test_a_manifest_is_no_wider_than_the_narrowest_file_of_its_set(tmp_path):
    for name, mode in (('a', 0o644), ('b', 0o640)):
        (tmp_path / name).write_bytes(b'')
        os.chmod(tmp_path / name, mode)
    stats = [os.stat(tmp_path / name) for name in ('a', 'b')]
    assert set_marker_attributes(stats) == (0o640, (stats[0].st_uid, stats[0].st_gid))
    assert set_marker_attributes([]) == (0o644, None)
