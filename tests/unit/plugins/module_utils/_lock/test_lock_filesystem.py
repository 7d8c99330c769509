# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Locks refused where they would exclude nobody: decided from the mount table."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.filesystem import (
    lock_filesystem_problem, mount_of)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kernel import parse_lock_mode
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire

ROOT = '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n'


def mountinfo(tmp_path, *lines):
    path = tmp_path / 'mountinfo'
    path.write_text(ROOT + ''.join(lines))
    return str(path)


def test_mount_of_takes_the_longest_matching_mount_point(tmp_path):
    table = mountinfo(tmp_path, '30 22 0:40 / /srv rw - tmpfs tmpfs rw\n',
                      '31 30 0:41 / /srv/in rw - nfs4 server:/export rw,vers=4.2\n')
    assert mount_of('/srv/in/x', table)['fstype'] == 'nfs4'
    assert mount_of('/srv/inbox', table)['fstype'] == 'tmpfs'
    assert mount_of('/etc', table)['fstype'] == 'ext4'


def test_mount_points_with_spaces_are_unescaped(tmp_path):
    table = mountinfo(tmp_path, '30 22 0:40 / /srv/my\\040share rw - cifs //nas/share rw\n')
    assert mount_of('/srv/my share/x', table)['source'] == '//nas/share'


def test_local_filesystems_are_fine(tmp_path):
    assert lock_filesystem_problem('/srv/x.lock', 'flock', mountinfo(tmp_path)) is None


def test_flock_on_nfs_names_fcntl(tmp_path):
    table = mountinfo(tmp_path, '31 22 0:41 / /srv rw - nfs4 server:/export rw,vers=4.2\n')
    problem = lock_filesystem_problem('/srv/x.lock', 'flock', table)
    assert 'nfs4 (server:/export at /srv)' in problem and 'lock_type=fcntl' in problem
    assert lock_filesystem_problem('/srv/x.lock', 'fcntl', table) is None


@pytest.mark.parametrize('option, refused', [
    ('nolock', {'flock', 'fcntl'}),
    ('local_lock=all', {'flock', 'fcntl'}),
    ('local_lock=posix', {'fcntl', 'flock'}),
    ('local_lock=flock', {'flock'}),
    ('local_lock=none', {'flock'}),
])
def test_nfs_local_locking_is_refused_for_the_kinds_it_keeps_local(tmp_path, option, refused):
    table = mountinfo(tmp_path, '31 22 0:41 / /srv rw - nfs server:/export rw,vers=3,%s\n' % option)
    found = {kind for kind in ('flock', 'fcntl') if lock_filesystem_problem('/srv/x.lock', kind, table)}
    assert found == refused


def test_smb_refuses_flock_only(tmp_path):
    table = mountinfo(tmp_path, '31 22 0:41 / /mnt/nas rw - cifs //nas/share rw\n')
    assert 'lock_type=fcntl' in lock_filesystem_problem('/mnt/nas/x.lock', 'flock', table)
    assert lock_filesystem_problem('/mnt/nas/x.lock', 'fcntl', table) is None


def test_fuse_refuses_both_kinds(tmp_path):
    table = mountinfo(tmp_path, '31 22 0:41 / /mnt/remote rw - fuse.sshfs user@host:/srv rw\n')
    for kind in ('flock', 'fcntl'):
        assert 'FUSE filesystem' in lock_filesystem_problem('/mnt/remote/x.lock', kind, table)


def test_this_machines_real_mount_table_allows_a_tmp_path_lock(tmp_path):
    assert mount_of(str(tmp_path))['mount_point'] in ('/', '/tmp')
    assert lock_filesystem_problem(str(tmp_path / 'x.lock'), 'flock') is None


def test_acquire_fails_or_warns_on_a_refused_filesystem(tmp_path, monkeypatch):
    table = mountinfo(tmp_path, '31 22 0:41 / %s rw - fuse.sshfs u@h:/srv rw\n' % tmp_path)
    monkeypatch.setattr('ansible_collections.lockstep.handoff.plugins.module_utils._lock.filesystem.PROC_MOUNTINFO',
                        table)
    with pytest.raises(HandoffError, match='FUSE filesystem.*lock_on_network_fs=warn'):
        acquire(str(tmp_path / 'x.lock'), 0)
    assert not (tmp_path / 'x.lock').exists()
    warnings = []
    with acquire(str(tmp_path / 'x.lock'), 0, on_network_fs='warn', warn=warnings.append):
        pass
    assert len(warnings) == 1 and 'FUSE filesystem' in warnings[0]


def test_locks_sharing_judged_read_the_mount_table_once_per_directory_and_keep_refusing(tmp_path, monkeypatch):
    """A drain takes a lock per file in one directory: one mount-table read, one warning, and a refusal
    is never remembered as a pass."""
    table = mountinfo(tmp_path, '31 22 0:41 / %s rw - fuse.sshfs u@h:/srv rw\n' % tmp_path)
    monkeypatch.setattr('ansible_collections.lockstep.handoff.plugins.module_utils._lock.filesystem.PROC_MOUNTINFO',
                        table)
    judged = set()
    for name in ('a.lock', 'b.lock'):
        with pytest.raises(HandoffError, match='FUSE filesystem'):
            acquire(str(tmp_path / name), 0, judged=judged)
    reads, warnings = [], []
    real_open = open

    def counting_open(path, *args, **kwargs):
        reads.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr('builtins.open', counting_open)
    for name in ('a.lock', 'b.lock', 'c.lock'):
        with acquire(str(tmp_path / name), 0, on_network_fs='warn', warn=warnings.append, judged=judged):
            pass
    assert reads.count(table) == 1 and len(warnings) == 1


def test_new_lock_files_get_lock_mode_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        with acquire(str(tmp_path / 'x.lock'), 0, mode=0o660):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / 'x.lock').st_mode) == 0o660
    assert os.stat(tmp_path / 'x.lock').st_gid == os.stat(tmp_path).st_gid


def test_lock_files_take_the_group_of_their_directory(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('changing a file to a group one is not a member of needs root')
    os.chown(tmp_path, -1, 12345)
    with acquire(str(tmp_path / 'x.lock'), 0):
        pass
    assert os.stat(tmp_path / 'x.lock').st_gid == 12345


@pytest.mark.parametrize('text, expected', [('0664', 0o664), ('660', 0o660), ('2775', 0o2775)])
def test_parse_lock_mode(text, expected):
    assert parse_lock_mode(text) == expected


@pytest.mark.parametrize('text', ['rw-rw-r--', '0999', '77777', ''])
def test_parse_lock_mode_refuses_what_is_not_an_octal_mode(text):
    with pytest.raises(HandoffError, match='not an octal file mode'):
        parse_lock_mode(text)
