# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup=true on file descriptors: dest read only as a regular file, the predictable backup name created exclusively."""

from __future__ import annotations

import os
import re
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import back_up
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile
from tests.support.hostile_user import canary_file, plant_backup_names, run_as, shared_directory, unchanged


def backup_name():
    """ansible.builtin.copy's backup name, DEST.<pid>.<YYYY-MM-DD@HH:MM:SS>~, for a backup made by this process.

    Built at call time: ansible-test runs each test in a forked child, whose pid is not the importer's.
    """
    return re.compile(r'^site\.conf\.%d\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$' % os.getpid())


def test_backup_copies_content_mode_and_times_under_copys_name(tmp_path):
    dest = tmp_path / 'site.conf'
    dest.write_bytes(b'old\n')
    os.chmod(dest, 0o640)
    os.utime(dest, (1000000000, 1000000000))
    with Directory.open(str(tmp_path)) as directory:
        backup = back_up(directory, 'site.conf')
    assert backup_name().match(os.path.basename(backup))
    st = os.lstat(backup)
    assert open(backup, 'rb').read() == b'old\n'
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o640, 1000000000)


def test_a_backup_name_planted_as_a_symlink_to_a_root_only_file_fails_without_writing_it(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    (shared / 'site.conf').write_bytes(b'old\n')
    plant_backup_names(attacker, shared, 'site.conf', canary)
    with Directory.open(str(shared)) as directory:
        with pytest.raises(UnsafeFile, match='backup name .* exists already'):
            back_up(directory, 'site.conf')
    assert unchanged(canary)


@pytest.mark.parametrize('plant', ['ln -s {canary} {dest}', 'mkfifo {dest}'])
def test_a_dest_that_is_a_symlink_or_fifo_is_not_read_and_gets_no_backup(attacker, tmp_path, fails_instead_of_hanging, plant):
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    run_as(attacker, plant.format(canary=canary, dest=shared / 'site.conf'))
    with Directory.open(str(shared)) as directory:
        with pytest.raises(UnsafeFile, match='not a regular file|is a symlink'):
            back_up(directory, 'site.conf')
    assert sorted(os.listdir(shared)) == ['site.conf']
    assert unchanged(canary)


def test_a_setuid_dest_of_another_user_gives_no_setuid_backup(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    run_as(attacker, 'printf evil > {0} && chmod 4777 {0}'.format(shared / 'site.conf'))
    with Directory.open(str(shared)) as directory:
        backup = back_up(directory, 'site.conf')
    st = os.lstat(backup)
    assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert st.st_uid == attacker.uid
