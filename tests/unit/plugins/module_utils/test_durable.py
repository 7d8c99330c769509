"""Temp files beside the destination, and publication by fsync + rename + fsync of the directory."""

from __future__ import annotations

import os
import re
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _durable
from ansible_collections.lockstep.handoff.plugins.module_utils._durable import (
    create_temp_beside, fsync_directory, is_temp_of, publish_durably, remove_durably, remove_quietly,
    temp_prefix, temps_for_names, write_bytes_durably)


@pytest.fixture
def loose_umask():
    """umask 0, so a mode that is right is right because the code set it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith('.tmp'))


def fixed_tokens(monkeypatch, *tokens):
    """Make the random part of temp names follow ``tokens`` (the last one repeats)."""
    queue = list(tokens)
    monkeypatch.setattr(_durable.secrets, 'token_hex', lambda nbytes: queue.pop(0) if len(queue) > 1 else queue[0])


def test_temp_prefix_is_dot_name_dot():
    assert temp_prefix('/srv/in/x.tar') == '.x.tar.'


def test_temp_file_is_hidden_beside_dest_with_mode_0600(tmp_path, loose_umask):
    dest = tmp_path / 'x.tar'
    fd, path = create_temp_beside(str(dest))
    os.close(fd)
    assert os.path.dirname(path) == str(tmp_path)
    assert re.match(r'^\.x\.tar\.[0-9a-f]+\.tmp$', os.path.basename(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not dest.exists()


def test_temp_file_takes_the_mode_asked_for_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        fd, path = create_temp_beside(str(tmp_path / 'x'), mode=0o640)
    finally:
        os.umask(previous)
    os.close(fd)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_temp_files_for_one_dest_get_distinct_names(tmp_path):
    paths = set()
    for dummy in range(20):
        fd, path = create_temp_beside(str(tmp_path / 'x'))
        os.close(fd)
        paths.add(path)
    assert len(paths) == 20


def test_temp_file_is_created_in_the_current_directory_for_a_bare_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fd, path = create_temp_beside('x')
    os.close(fd)
    assert os.path.dirname(os.path.abspath(path)) == str(tmp_path)


def test_symlink_planted_at_the_temp_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious')
    planted = tmp_path / '.x.aaaa.tmp'
    planted.symlink_to(victim)
    fixed_tokens(monkeypatch, 'aaaa', 'bbbb')
    fd, path = create_temp_beside(str(tmp_path / 'x'))
    os.write(fd, b'new data')
    os.close(fd)
    assert path == str(tmp_path / '.x.bbbb.tmp')
    assert victim.read_bytes() == b'precious'
    assert os.readlink(planted) == str(victim)


def test_dangling_symlink_at_the_temp_name_creates_nothing_at_its_target(tmp_path, monkeypatch):
    target = tmp_path / 'elsewhere' / 'created-through-link'
    target.parent.mkdir()
    (tmp_path / '.x.aaaa.tmp').symlink_to(target)
    fixed_tokens(monkeypatch, 'aaaa', 'bbbb')
    fd, dummy = create_temp_beside(str(tmp_path / 'x'))
    os.close(fd)
    assert not target.exists()


def test_temp_creation_gives_up_when_every_name_is_taken(tmp_path, monkeypatch):
    (tmp_path / '.x.aaaa.tmp').write_bytes(b'')
    fixed_tokens(monkeypatch, 'aaaa')
    with pytest.raises(FileExistsError):
        create_temp_beside(str(tmp_path / 'x'))


def test_a_created_temp_is_a_temp_of_its_dest(tmp_path):
    dest = str(tmp_path / 'x.tar')
    fd, path = create_temp_beside(dest)
    os.close(fd)
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
    with pytest.raises(IsADirectoryError):
        write_bytes_durably(str(dest), b'payload')
    assert leftovers(tmp_path) == []
    assert (dest / 'inside').read_bytes() == b'kept'


def test_publish_durably_renames_the_temp_onto_dest(tmp_path):
    dest = str(tmp_path / 'x')
    fd, temp = create_temp_beside(dest)
    os.write(fd, b'data')
    os.close(fd)
    publish_durably(temp, dest)
    assert (tmp_path / 'x').read_bytes() == b'data'
    assert not os.path.exists(temp)


def test_fsync_directory_of_empty_name_is_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fsync_directory('')


def test_fsync_directory_refuses_a_file(tmp_path):
    (tmp_path / 'file').write_bytes(b'')
    with pytest.raises(NotADirectoryError):
        fsync_directory(str(tmp_path / 'file'))


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
