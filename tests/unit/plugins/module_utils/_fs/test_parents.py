# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""create_parents: missing directories made one step at a time, never through a symlink another user planted."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import (
    _make_child, directory_mode_of, make_directory, make_parent_directories)
from tests.support.hostile_user import run_as, shared_directory


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_nested_missing_directories_are_made_top_down_with_the_mode_asked(tmp_path):
    deep = tmp_path / 'a' / 'b' / 'c'
    made = make_directory(str(deep), mode=0o750)
    assert made == [str(tmp_path / 'a'), str(tmp_path / 'a' / 'b'), str(deep)]
    assert [mode_of(path) for path in made] == [0o750, 0o750, 0o750]


def test_without_a_mode_the_umask_decides(tmp_path):
    previous = os.umask(0o027)
    try:
        make_directory(str(tmp_path / 'a' / 'b'))
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / 'a') == mode_of(tmp_path / 'a' / 'b') == 0o750


def test_an_existing_directory_is_left_as_it_is(tmp_path):
    (tmp_path / 'a').mkdir(mode=0o700)
    assert make_directory(str(tmp_path / 'a'), mode=0o755) == []
    assert make_directory(str(tmp_path / 'a' / 'b'), mode=0o755) == [str(tmp_path / 'a' / 'b')]
    assert mode_of(tmp_path / 'a') == 0o700


def test_a_directory_made_by_someone_else_after_the_look_is_opened_not_an_error(tmp_path):
    (tmp_path / 'hosts').mkdir()
    with Directory.open(str(tmp_path)) as parent:
        child, made_here = _make_child(parent, 'hosts', str(tmp_path / 'hosts'), None)
    with child:
        assert (child.path, made_here) == (str(tmp_path / 'hosts'), False)
        assert os.path.samestat(os.fstat(child.fd), os.stat(str(tmp_path / 'hosts')))


def _make_below(root, name, start):
    start.wait()
    return make_directory(os.path.join(root, 'hosts', name, 'inbox', '.handoff'))


def test_processes_making_a_shared_parent_at_once_all_succeed(tmp_path):
    """Two hosts of one machine delivering below one new directory race to make it; neither may fail."""
    context = multiprocessing.get_context('fork')
    for attempt in range(20):
        root = str(tmp_path / str(attempt))
        os.mkdir(root)
        with context.Manager() as manager:
            start = manager.Barrier(4)
            with context.Pool(4) as pool:
                made = pool.starmap(_make_below, [(root, 'h%d' % index, start) for index in range(4)])
        assert sorted(os.listdir(os.path.join(root, 'hosts'))) == ['h0', 'h1', 'h2', 'h3']
        assert sum(os.path.join(root, 'hosts') in paths for paths in made) == 1


def test_check_mode_lists_what_it_would_make_and_makes_nothing(tmp_path):
    (tmp_path / 'a').mkdir()
    files = [str(tmp_path / 'a' / 'b' / 'c' / 'f1'), str(tmp_path / 'a' / 'b' / '.handoff' / 'f1.done'),
             str(tmp_path / 'a' / 'f2')]
    would = make_parent_directories(files, check_mode=True)
    assert would == [str(tmp_path / 'a' / 'b'), str(tmp_path / 'a' / 'b' / '.handoff'),
                     str(tmp_path / 'a' / 'b' / 'c')]
    assert os.listdir(str(tmp_path / 'a')) == []
    assert make_parent_directories(files) == would
    assert all(os.path.isdir(path) for path in would)


def test_the_set_group_id_bit_of_a_shared_parent_is_kept(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    make_directory(str(shared / 'new'), mode=0o750)
    st = os.stat(str(shared / 'new'))
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o2750, attacker.gid)


def test_a_symlink_planted_in_a_shared_directory_is_refused_and_nothing_is_made_where_it_leads(attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    victim = tmp_path / 'victim'
    victim.mkdir(mode=0o700)
    run_as(attacker, 'ln -s %s %s' % (victim, shared / 'conf.d'))
    with pytest.raises(UnsafeFile) as refused:
        make_directory(str(shared / 'conf.d' / 'sub' / '.handoff'), mode=0o755)
    assert 'refusing to create directories through %s: it is a symlink owned by uid %d' % (
        shared / 'conf.d', attacker.uid) in refused.value.msg
    assert os.listdir(str(victim)) == [] and mode_of(victim) == 0o700


def test_a_symlink_of_this_user_in_a_private_directory_is_followed(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    assert make_directory(str(tmp_path / 'link' / 'sub')) == [str(tmp_path / 'link' / 'sub')]
    assert os.path.isdir(str(tmp_path / 'real' / 'sub'))


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / 'a').write_text('a file')
    with pytest.raises(HandoffError, match='below %s: it is not a directory' % (tmp_path / 'a')):
        make_directory(str(tmp_path / 'a' / 'b'))


@pytest.mark.parametrize('given, wanted', [(None, None), ('', None), ('0750', 0o750), (0o700, 0o700),
                                           ('u=rwx,g=rx,o=', 0o750)])
def test_directory_mode_takes_octal_and_symbolic_modes(given, wanted):
    assert directory_mode_of(given) == wanted
