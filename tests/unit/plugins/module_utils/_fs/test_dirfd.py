# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory-fd primitives: exclusive temps, reads of regular files only, renames of the inode judged."""

from __future__ import annotations

import os
import re
import stat
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol import names as _names
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import (
    Directory, UnsafeFile, open_regular)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import make_directory
from tests.support.hostile_user import run_as, shared_directory


@pytest.fixture
def directory(tmp_path):
    with Directory.open(str(tmp_path)) as opened:
        yield opened


def fixed_tokens(monkeypatch, *tokens):
    """Make the random part of temp names follow ``tokens`` (the last one repeats)."""
    queue = list(tokens)
    monkeypatch.setattr(_names.secrets, 'token_hex', lambda nbytes: queue.pop(0) if len(queue) > 1 else queue[0])


def test_temp_is_hidden_exclusive_and_0600_whatever_the_umask(directory, tmp_path):
    previous = os.umask(0)
    try:
        fd, temp = directory.create_temp('x.tar')
    finally:
        os.umask(previous)
    os.close(fd)
    assert re.match(r'^\.x\.tar\.[0-9a-f]{12}\.tmp$', temp)
    assert stat.S_IMODE(os.stat(tmp_path / temp).st_mode) == 0o600


def test_temp_takes_the_mode_asked_for_whatever_the_umask(directory, tmp_path):
    previous = os.umask(0o077)
    try:
        fd, temp = directory.create_temp('x', mode=0o640)
    finally:
        os.umask(previous)
    os.close(fd)
    assert stat.S_IMODE(os.stat(tmp_path / temp).st_mode) == 0o640


def test_symlink_planted_at_the_temp_name_is_not_followed(directory, tmp_path, monkeypatch):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious')
    (tmp_path / '.x.aaaa.tmp').symlink_to(victim)
    fixed_tokens(monkeypatch, 'aaaa', 'bbbb')
    fd, temp = directory.create_temp('x')
    os.write(fd, b'new data')
    os.close(fd)
    assert temp == '.x.bbbb.tmp'
    assert victim.read_bytes() == b'precious'


def test_dangling_symlink_at_the_temp_name_creates_nothing_at_its_target(directory, tmp_path, monkeypatch):
    target = tmp_path / 'elsewhere' / 'created-through-link'
    target.parent.mkdir()
    (tmp_path / '.x.aaaa.tmp').symlink_to(target)
    fixed_tokens(monkeypatch, 'aaaa', 'bbbb')
    os.close(directory.create_temp('x')[0])
    assert not target.exists()


def test_temp_creation_gives_up_when_every_name_is_taken(directory, tmp_path, monkeypatch):
    (tmp_path / '.x.aaaa.tmp').write_bytes(b'')
    fixed_tokens(monkeypatch, 'aaaa')
    with pytest.raises(FileExistsError):
        directory.create_temp('x')


def test_open_refuses_a_symlinked_directory(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    with pytest.raises(UnsafeFile, match='not a directory'):
        Directory.open(str(tmp_path / 'link'))


def test_empty_path_is_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Directory.open('') as opened:
        opened.fsync()
        assert os.path.samestat(os.fstat(opened.fd), os.stat(tmp_path))


def test_open_regular_refuses_a_symlink(tmp_path):
    (tmp_path / 'target').write_bytes(b'x')
    (tmp_path / 'link').symlink_to(tmp_path / 'target')
    with pytest.raises(UnsafeFile, match='symlink'):
        open_regular(str(tmp_path / 'link'))


def test_open_regular_refuses_a_fifo_at_once_instead_of_blocking(tmp_path):
    os.mkfifo(tmp_path / 'fifo')
    started = time.monotonic()
    with pytest.raises(UnsafeFile, match='not a regular file'):
        open_regular(str(tmp_path / 'fifo'))
    assert time.monotonic() - started < 1


def test_open_regular_gives_a_blocking_fd(tmp_path):
    (tmp_path / 'file').write_bytes(b'data')
    fd = open_regular(str(tmp_path / 'file'))
    try:
        assert os.get_blocking(fd)
        assert os.read(fd, 10) == b'data'
    finally:
        os.close(fd)


def test_rename_verified_renames_the_inode_it_was_given(directory, tmp_path):
    fd, temp = directory.create_temp('x')
    os.write(fd, b'data')
    st = os.fstat(fd)
    os.close(fd)
    directory.rename_verified(temp, st, directory, 'x')
    assert (tmp_path / 'x').read_bytes() == b'data'
    assert not (tmp_path / temp).exists()


def test_rename_verified_refuses_a_name_swapped_for_another_file(directory, tmp_path):
    fd, temp = directory.create_temp('x')
    st = os.fstat(fd)
    os.close(fd)
    os.rename(tmp_path / temp, tmp_path / 'moved-away')
    (tmp_path / temp).symlink_to(tmp_path / 'moved-away')
    with pytest.raises(UnsafeFile, match='replaced by another file'):
        directory.rename_verified(temp, st, directory, 'x')
    assert not os.path.lexists(tmp_path / 'x')


def test_unlink_if_same_leaves_a_swapped_name_alone(directory, tmp_path):
    fd, temp = directory.create_temp('x')
    st = os.fstat(fd)
    os.close(fd)
    (tmp_path / 'other').write_bytes(b'someone else')
    os.rename(tmp_path / 'other', tmp_path / temp)
    assert directory.unlink_if_same(temp, st) is False
    assert (tmp_path / temp).read_bytes() == b'someone else'
    assert directory.unlink_if_same(temp, os.lstat(tmp_path / temp)) is True
    assert not (tmp_path / temp).exists()


def test_subdirectory_is_made_on_request_and_a_symlink_there_refused(directory, tmp_path):
    with directory.subdirectory('sub', create=True) as sub:
        assert sub.path == str(tmp_path / 'sub')
    (tmp_path / 'elsewhere').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(UnsafeFile, match='symlink'):
        directory.subdirectory('link', create=True)


@pytest.mark.parametrize('parent_mode, followed', [(0o755, True), (0o1777, True), (0o777, False), (0o2775, False)])
def test_own_link_is_followed_only_where_no_other_user_could_have_put_it(tmp_path, parent_mode, followed):
    """A link of this user in a directory others may change could have been renamed there from elsewhere."""
    (tmp_path / 'real').mkdir()
    (tmp_path / 'real' / 'inside').write_bytes(b'')
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    os.chmod(tmp_path, parent_mode)
    if not followed:
        with pytest.raises(UnsafeFile, match='is not a directory'):
            Directory.open_through_trusted_link(str(tmp_path / 'link'))
        return
    with Directory.open_through_trusted_link(str(tmp_path / 'link')) as opened:
        assert opened.listdir() == ['inside']


def test_a_real_directory_opens_through_trusted_link_as_with_open(tmp_path):
    os.chmod(tmp_path, 0o777)
    with Directory.open_through_trusted_link(str(tmp_path)) as opened:
        assert opened.path == str(tmp_path)


def test_make_directory_makes_only_what_is_missing_and_opens_through_links_of_this_user(tmp_path):
    (tmp_path / 'real').mkdir()
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'link'))
    assert make_directory(str(tmp_path / 'link' / 'a' / 'b')) == [str(tmp_path / 'link' / 'a'),
                                                                  str(tmp_path / 'link' / 'a' / 'b')]
    assert (tmp_path / 'real' / 'a' / 'b').is_dir()
    assert make_directory(str(tmp_path / 'link' / 'a' / 'b')) == []
    with Directory.open(str(tmp_path / 'link' / 'a')) as directory:
        assert directory.listdir() == ['b']


def test_a_symlink_another_user_planted_on_the_way_is_never_followed(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    private = tmp_path / 'private'
    (private / 'state').mkdir(parents=True)
    run_as(attacker, 'ln -s %s %s/.handoff' % (private, shared))
    for opener in (Directory.open, Directory.open_through_trusted_link):
        with pytest.raises(UnsafeFile, match='another user could have placed'):
            opener(str(shared / '.handoff' / 'state'))
    with pytest.raises(UnsafeFile, match='refusing to create directories through'):
        make_directory(str(shared / '.handoff' / 'new'))
    assert os.listdir(private) == ['state']


def test_directories_on_the_way_need_only_search_permission_as_with_path_lookup(attacker, tmp_path):
    """The walk opened each directory on the way for reading: a 0711 one (a home directory) made every hand-off
    below it unreachable for any user but its owner."""
    search_only = shared_directory(tmp_path / 'home', attacker) / 'user'
    (search_only / 'inbox').mkdir(parents=True)
    search_only.chmod(0o711)
    pid = os.fork()
    if pid == 0:
        try:
            os.setegid(attacker.gid)
            os.seteuid(attacker.uid)
            with Directory.open(str(search_only / 'inbox')):
                os._exit(0)
        except BaseException:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0


class _SwapOnLookup:
    """``os`` as dirfd sees it, except that the first fd-relative lstat of ``name`` first runs ``swap``: another
    user changing the path in the instant between the walk's open of a directory and its check of a link there."""

    def __init__(self, name, swap):
        self._name, self._swap = name, swap

    def __getattr__(self, attribute):
        return getattr(os, attribute)

    def stat(self, path, *args, **kwargs):
        if path == self._name and kwargs.get('dir_fd') is not None:
            self._swap_once()
        return os.stat(path, *args, **kwargs)

    def lstat(self, path, *args, **kwargs):
        if os.path.basename(str(path)) == self._name:
            self._swap_once()
        return os.lstat(path, *args, **kwargs)

    def _swap_once(self):
        if self._swap is not None:
            swap, self._swap = self._swap, None
            swap()


@pytest.mark.parametrize('opener', ['open', 'open_through_trusted_link'])
def test_a_link_is_judged_where_the_walk_found_it_not_by_its_path_looked_up_again(tmp_path, monkeypatch, opener):
    """The walk holds shared/a open when it meets the link a/run, planted by a user who can write shared and a. If
    the link were judged by its path, that user could swap shared/a for a link to a /var-like directory whose own
    run is a trusted link, and the walk would follow the planted one into a directory of their choosing."""
    from ansible_collections.lockstep.handoff.plugins.module_utils._fs import dirfd
    shared, trusted, target = tmp_path / 'shared', tmp_path / 'var', tmp_path / 'etc'
    (shared / 'a').mkdir(parents=True)
    trusted.mkdir()
    target.mkdir()
    (target / 'private').mkdir()
    (trusted / 'run').symlink_to(target)          # a trusted link: this user's, in a directory only it can change
    (shared / 'a' / 'run').symlink_to(target)     # a planted one, in directories others can write
    os.chmod(trusted, 0o755)
    for writable in (shared, shared / 'a'):
        os.chmod(writable, 0o777)

    def swap():
        os.rename(shared / 'a', shared / 'a.walked')
        os.symlink(trusted, shared / 'a')

    monkeypatch.setattr(dirfd, 'os', _SwapOnLookup('run', swap))
    with pytest.raises(UnsafeFile):
        getattr(Directory, opener)(str(shared / 'a' / 'run' / 'private'))
