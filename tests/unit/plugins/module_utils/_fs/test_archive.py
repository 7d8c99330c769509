# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Archive safety: only announced regular files get through, and nothing is written through a link."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import (
    UnsafeArchive, checked_members, target_below)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry, UnsafePath

DATA = b'payload\n'
ENTRY = FileEntry('dir/a.txt', len(DATA), hashlib.sha256(DATA).hexdigest())


def regular(name, data=DATA):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def special(name, kind, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def archive(tmp_path, *members):
    """Write a real tar with ``members`` (TarInfo, fileobj) and open it for reading."""
    path = tmp_path / 'set.tar'
    with tarfile.open(str(path), 'w') as tar:
        for info, fileobj in members:
            tar.addfile(info, fileobj)
    return tarfile.open(str(path), 'r:')


def test_announced_regular_files_are_yielded_with_their_entry(tmp_path):
    with archive(tmp_path, regular('dir/a.txt')) as tar:
        got = [(member.name, entry, tar.extractfile(member).read()) for member, entry in
               checked_members(tar, {ENTRY.path: ENTRY})]
    assert got == [('dir/a.txt', ENTRY, DATA)]


@pytest.mark.parametrize('member, problem', [
    (special('dir/a.txt', tarfile.SYMTYPE, '/etc/passwd'), 'is a symlink'),
    (special('dir/a.txt', tarfile.LNKTYPE, '../../etc/passwd'), 'is a hard link'),
    (special('dir/a.txt', tarfile.CHRTYPE), 'is a device or FIFO'),
    (special('dir/a.txt', tarfile.BLKTYPE), 'is a device or FIFO'),
    (special('dir/a.txt', tarfile.FIFOTYPE), 'is a device or FIFO'),
    (special('dir/a.txt', tarfile.DIRTYPE), 'is a directory'),
    (regular('dir/b.txt'), 'is not one of the files the controller announced'),
    (regular('dir/a.txt', b'longer payload\n'), 'is 15 bytes; 8 were announced'),
])
def test_anything_but_an_announced_regular_file_is_refused(tmp_path, member, problem):
    with archive(tmp_path, member) as tar:
        with pytest.raises(UnsafeArchive, match=problem):
            list(checked_members(tar, {ENTRY.path: ENTRY}))


@pytest.mark.parametrize('name', ['/dir/a.txt', '../dir/a.txt', 'dir/../../a.txt', './dir/a.txt'])
def test_absolute_and_escaping_names_are_refused_even_when_announced(tmp_path, name):
    evil = FileEntry(name, len(DATA), ENTRY.sha256)
    with archive(tmp_path, regular(name)) as tar:
        with pytest.raises(UnsafePath):
            list(checked_members(tar, {name: evil}))


def test_a_member_twice_is_refused(tmp_path):
    with archive(tmp_path, regular('dir/a.txt'), regular('dir/a.txt')) as tar:
        with pytest.raises(UnsafeArchive, match='appears twice'):
            list(checked_members(tar, {ENTRY.path: ENTRY}))


def test_a_missing_member_is_refused(tmp_path):
    other = FileEntry('b.txt', 1, ENTRY.sha256)
    with archive(tmp_path, regular('dir/a.txt')) as tar:
        with pytest.raises(UnsafeArchive, match='lacks 1 announced file') as caught:
            list(checked_members(tar, {ENTRY.path: ENTRY, other.path: other}))
    assert caught.value.details['missing'] == ['b.txt']


def test_target_below_creates_missing_directories(tmp_path):
    target = target_below(str(tmp_path), 'x/y/z.txt', create_directories=True)
    assert target == str(tmp_path / 'x' / 'y' / 'z.txt')
    assert (tmp_path / 'x' / 'y').is_dir()


def test_target_below_without_creating_leaves_the_tree_alone(tmp_path):
    assert target_below(str(tmp_path), 'x/y/z.txt', create_directories=False) == str(tmp_path / 'x/y/z.txt')
    assert os.listdir(str(tmp_path)) == []


def test_a_symlinked_directory_inside_dest_is_never_written_through(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    root = tmp_path / 'dest'
    root.mkdir()
    (root / 'dir').symlink_to(outside)
    for create in (True, False):
        with pytest.raises(UnsafeArchive, match='is a symlink; files of the set are never written through a link'):
            target_below(str(root), 'dir/a.txt', create_directories=create)
    assert os.listdir(str(outside)) == []


def test_a_file_where_a_directory_is_needed_is_refused(tmp_path):
    (tmp_path / 'dir').write_bytes(b'')
    with pytest.raises(UnsafeArchive, match='is not a directory, but the set has files below it'):
        target_below(str(tmp_path), 'dir/a.txt', create_directories=True)


def test_a_directory_where_the_file_goes_is_refused(tmp_path):
    (tmp_path / 'a.txt').mkdir()
    with pytest.raises(UnsafeArchive, match='is a directory, but the set has a file of that name'):
        target_below(str(tmp_path), 'a.txt', create_directories=True)


def test_unsafe_relative_paths_are_refused_before_touching_the_tree(tmp_path):
    with pytest.raises(UnsafePath):
        target_below(str(tmp_path), '../escape.txt', create_directories=True)


def test_a_directory_swapped_for_a_link_while_the_set_is_placed_gets_nothing_made_through_it(tmp_path, monkeypatch):
    """The directories of a set's file are made step by step through fds: another user of the destination who
    swaps a directory on the way for a link (right after it was looked at) has nothing made where the link leads."""
    from ansible_collections.lockstep.handoff.plugins.module_utils._fs import archive
    dest, outside = tmp_path / 'dest', tmp_path / 'outside'
    (dest / 'a').mkdir(parents=True)
    outside.mkdir()
    os.chmod(dest, 0o777)
    looked_at = str(dest / 'a')

    class SwapAfterLookingAt:
        """``os`` as archive sees it, except that ``dest/a`` is swapped for a link right after its lstat."""
        def __getattr__(self, attribute):
            return getattr(os, attribute)

        def lstat(self, path):
            st = os.lstat(path)
            if str(path) == looked_at and not os.path.islink(looked_at):
                os.rename(looked_at, looked_at + '.before')
                os.symlink(outside, looked_at)
            return st

    monkeypatch.setattr(archive, 'os', SwapAfterLookingAt())
    with pytest.raises(UnsafeFile, match='refusing to create directories through'):
        target_below(str(dest), 'a/b/c/file.txt', create_directories=True)
    assert os.listdir(outside) == []
