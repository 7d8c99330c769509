# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Temp files beside the destination, and publication by fsync + rename + fsync of the directory."""

from __future__ import annotations

import os
import re
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import (
    create_temp_beside, is_temp_of, remove_durably, remove_quietly, temps_for_names, write_bytes_durably)


@pytest.fixture
def loose_umask():
    """umask 0, so a mode that is right is right because the code set it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith('.tmp'))


def test_temp_file_is_hidden_beside_dest_with_mode_0600(tmp_path, loose_umask):
    dest = tmp_path / 'x.tar'
    path = create_temp_beside(str(dest))
    assert os.path.dirname(path) == str(tmp_path)
    assert re.match(r'^\.x\.tar\.[0-9a-f]+\.tmp$', os.path.basename(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not dest.exists()


def test_temp_files_for_one_dest_get_distinct_names(tmp_path):
    paths = set()
    for dummy in range(20):
        path = create_temp_beside(str(tmp_path / 'x'))
        paths.add(path)
    assert len(paths) == 20


def test_temp_file_is_created_in_the_current_directory_for_a_bare_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = create_temp_beside('x')
    assert os.path.dirname(os.path.abspath(path)) == str(tmp_path)


def test_a_created_temp_is_a_temp_of_its_dest(tmp_path):
    dest = str(tmp_path / 'x.tar')
    path = create_temp_beside(dest)
    assert is_temp_of(dest, path)


@pytest.mark.parametrize('candidate', [
    '/srv/in/.x.tar.0123456789ab.tmp',
    '/srv/in/./.x.tar.0123456789ab.tmp',
])
def test_is_temp_of_accepts_temp_names_in_dest_directory(candidate):
    assert is_temp_of('/srv/in/x.tar', candidate)


@pytest.mark.parametrize('candidate', [
    '/srv/other/.x.tar.0123456789ab.tmp',
    '/srv/in/sub/.x.tar.0123456789ab.tmp',
    '/srv/in/.y.tar.0123456789ab.tmp',
    '/srv/in/.x.tar.done.0123456789ab.tmp',
    '/srv/in/.x.tar.0123abcd.tmp',
    '/srv/in/.x.tar.z.tmp',
    '/srv/in/.x.tar.0123456789AB.tmp',
    '/srv/in/.x.tar.',
    '/srv/in/.x.tar..tmp',
    '/srv/in/.x.tar.0123abcd',
    '/srv/in/x.tar.0123abcd.tmp',
    '/srv/in/x.tar',
])
def test_is_temp_of_refuses_other_names_and_directories(candidate):
    assert not is_temp_of('/srv/in/x.tar', candidate)


def test_is_temp_of_resolves_relative_names_against_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_temp_of(str(tmp_path / 'x'), '.x.0123456789ab.tmp')
    assert not is_temp_of('/srv/in/x', '.x.0123456789ab.tmp')


def test_temps_for_names_takes_exactly_the_temps_of_the_names_asked_for(tmp_path):
    for name in ('.a.csv.0123456789ab.tmp', '.b.csv.0123456789ab.tmp', '.a.csv.done.0123456789ab.tmp',
                 '.a.csv.0123.tmp', 'a.csv'):
        (tmp_path / name).write_bytes(b'')
    assert temps_for_names(str(tmp_path), {'a.csv', 'c.csv'}) == [str(tmp_path / '.a.csv.0123456789ab.tmp')]


def test_temps_for_names_of_a_missing_directory_is_empty(tmp_path):
    assert temps_for_names(str(tmp_path / 'gone'), {'a.csv'}) == []


def test_write_bytes_durably_writes_content_and_mode_and_leaves_no_temp(tmp_path, loose_umask):
    dest = tmp_path / 'x'
    write_bytes_durably(str(dest), b'payload', mode=0o640)
    assert dest.read_bytes() == b'payload'
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640
    assert leftovers(tmp_path) == []


def test_write_bytes_durably_writes_large_data_whole(tmp_path):
    data = bytes(range(256)) * 12289
    write_bytes_durably(str(tmp_path / 'x'), data)
    assert (tmp_path / 'x').read_bytes() == data


def test_write_bytes_durably_replaces_by_rename_so_open_readers_keep_the_old_file(tmp_path):
    dest = tmp_path / 'x'
    dest.write_bytes(b'old')
    with open(dest, 'rb') as reader:
        old_inode = os.fstat(reader.fileno()).st_ino
        write_bytes_durably(str(dest), b'new')
        assert reader.read() == b'old'
    assert dest.read_bytes() == b'new'
    assert os.stat(dest).st_ino != old_inode


def test_write_bytes_durably_failing_rename_leaves_no_temp_and_dest_as_it_was(tmp_path):
    dest = tmp_path / 'x'
    dest.mkdir()
    (dest / 'inside').write_bytes(b'kept')
    with pytest.raises(UnsafeFile, match='is a directory now'):
        write_bytes_durably(str(dest), b'payload')
    assert leftovers(tmp_path) == []
    assert (dest / 'inside').read_bytes() == b'kept'


def test_remove_durably_says_whether_the_file_existed(tmp_path):
    path = tmp_path / 'x'
    path.write_bytes(b'')
    assert remove_durably(str(path)) is True
    assert not path.exists()
    assert remove_durably(str(path)) is False


def test_remove_quietly_ignores_missing_files_and_removes_present_ones(tmp_path):
    path = tmp_path / 'x'
    remove_quietly(str(path))
    path.write_bytes(b'')
    remove_quietly(str(path))
    assert not path.exists()


def test_remove_durably_removes_a_planted_symlink_not_its_target(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious')
    (tmp_path / 'x.done').symlink_to(victim)
    assert remove_durably(str(tmp_path / 'x.done')) is True
    assert not os.path.lexists(tmp_path / 'x.done')
    assert victim.read_bytes() == b'precious'


def test_write_bytes_durably_gives_the_owner_asked_for(as_root, tmp_path):
    write_bytes_durably(str(tmp_path / 'x'), b'payload', mode=0o600, owner=(65534, 65534))
    st = os.stat(tmp_path / 'x')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)


def test_write_bytes_durably_through_a_symlinked_directory_is_refused(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    with pytest.raises(UnsafeFile):
        write_bytes_durably(str(tmp_path / 'link' / 'x'), b'payload')
    assert os.listdir(tmp_path / 'real') == []
