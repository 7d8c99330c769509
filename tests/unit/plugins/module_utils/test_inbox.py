# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an inbox drain takes as data: matching regular files, never markers, locks, temps or hidden files."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _move
from ansible_collections.lockstep.handoff.plugins.modules import locked_move
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import create_temp_beside
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove, inbox_files
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker


def test_inbox_files_takes_only_matching_data_files(tmp_path):
    for name in ('a.csv', 'b.csv', 'c.txt', 'a.csv.done', 'a.csv.lock', '.a.csv.0123456789ab.tmp', '.hidden.csv'):
        (tmp_path / name).write_text('x')
    (tmp_path / 'dir.csv').mkdir()
    os.symlink(tmp_path / 'a.csv', tmp_path / 'link.csv')
    assert inbox_files(str(tmp_path), ['*.csv']) == ['a.csv', 'b.csv']
    assert inbox_files(str(tmp_path), ['*']) == ['a.csv', 'b.csv', 'c.txt']
    assert inbox_files(str(tmp_path), ['*.csv', 'c.*']) == ['a.csv', 'b.csv', 'c.txt']


def test_inbox_patterns_are_case_sensitive(tmp_path):
    (tmp_path / 'A.CSV').write_text('x')
    assert inbox_files(str(tmp_path), ['*.csv']) == []


def test_a_file_taken_by_another_consumer_after_the_listing_is_not_ours(tmp_path, monkeypatch):
    """Another drain moves b.csv away between our listdir and our look at it: the listing
    goes on without it (it used to fail the whole drain, saying the inbox did not exist)."""
    for name in ('a.csv', 'b.csv', 'c.csv'):
        (tmp_path / name).write_text('x')
    real_listdir = os.listdir

    def listdir_then_other_consumer_moves_b(path):
        names = real_listdir(path)
        os.rename(tmp_path / 'b.csv', tmp_path.parent / 'b.csv.elsewhere')
        return names

    monkeypatch.setattr(os, 'listdir', listdir_then_other_consumer_moves_b)
    assert inbox_files(str(tmp_path), ['*.csv']) == ['a.csv', 'c.csv']


def publish_set(directory, files, generation=1):
    """Files ({relative path: bytes}) below ``directory``, then the manifest ``directory.done``, as a producer does."""
    listed = []
    for relative, data in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        listed.append(FileEntry(relative, len(data), hashlib.sha256(data).hexdigest()))
    Marker.complete_set(listed, 'test', generation).write(str(directory) + '.done')


SET = {'a.csv': b'alpha\n', 'sub/b.csv': b'bravo\n'}


@pytest.fixture
def drain(make_module, tmp_path):
    """``drain(check_mode=False, **options)``: locked_move of the inbox tmp_path/in into tmp_path/out."""
    (tmp_path / 'out').mkdir()

    def run(check_mode=False, **options):
        options.setdefault('src', str(tmp_path / 'in'))
        options.setdefault('dest', str(tmp_path / 'out'))
        return LockedMove(make_module(locked_move.argument_spec(), check_mode=check_mode, **options)).run()
    return run


def test_a_manifest_set_moves_whole_with_its_tree_and_the_manifest_goes_last(drain, tmp_path):
    publish_set(tmp_path / 'in', SET)
    result = drain()
    moved = sorted(item['dest'] for item in result['moved'])
    assert moved == [str(tmp_path / 'out/a.csv'), str(tmp_path / 'out/sub/b.csv')]
    assert (tmp_path / 'out/sub/b.csv').read_bytes() == SET['sub/b.csv']
    assert result['manifest']['state'] == 'removed'
    assert not (tmp_path / 'in.done').exists()
    again = drain()
    assert again['changed'] is False and again['moved'] == [] and 'manifest' not in again


def test_check_mode_moves_nothing_and_keeps_the_manifest(drain, tmp_path):
    publish_set(tmp_path / 'in', SET)
    result = drain(check_mode=True)
    assert result['changed'] and len(result['moved']) == 2
    assert result['manifest']['state'] == 'pending'
    assert (tmp_path / 'in.done').exists() and not (tmp_path / 'out/sub').exists()


def test_a_file_that_disagrees_with_the_manifest_stays_and_so_does_the_manifest(drain, tmp_path):
    publish_set(tmp_path / 'in', SET)
    (tmp_path / 'in/sub/b.csv').write_bytes(b'BRAVO\n')
    result = drain()
    assert [item['src'] for item in result['moved']] == [str(tmp_path / 'in/a.csv')]
    assert 'checksum mismatch: manifest' in result['not_ready'][0]['reason']
    assert result['manifest']['state'] == 'pending' and (tmp_path / 'in.done').exists()


def test_a_crash_after_the_files_moved_is_finished_by_the_next_run(drain, tmp_path):
    """The files moved but the manifest stayed (a crash before step 4): the re-run only removes it."""
    publish_set(tmp_path / 'in', SET)
    manifest = (tmp_path / 'in.done').read_bytes()
    drain()
    (tmp_path / 'in.done').write_bytes(manifest)
    result = drain()
    assert result['moved'] == [] and len(result['already_moved']) == 2
    assert result['changed'] and result['manifest']['state'] == 'removed'


def test_manifest_is_moved_beside_dest_on_request(drain, tmp_path):
    publish_set(tmp_path / 'in', SET, generation=3)
    result = drain(marker='move')
    assert result['manifest']['state'] == 'moved'
    assert Marker.read(str(tmp_path / 'out.done')).generation == 3


def test_a_failed_manifest_fails_the_drain(drain, tmp_path):
    (tmp_path / 'in').mkdir()
    Marker.failed('disk full', 'test', 2).write(str(tmp_path / 'in.done'))
    (tmp_path / 'in' / 'a.csv').write_bytes(b'x')
    with pytest.raises(HandoffError, match='not moving the set in .*: its producer marked it failed: disk full'):
        drain()


def test_a_drain_lists_the_dest_directory_once_for_leftover_temps_not_once_per_file(drain, tmp_path, monkeypatch):
    """200 marked files and one temp a killed copy left beside dest: the drain names the temp from a single
    listing of dest, where a listing per moved file would make a drain of N files cost N listings."""
    inbox = tmp_path / 'in'
    inbox.mkdir()
    for index in range(200):
        data = b'file %d\n' % index
        src = inbox / ('f%03d.csv' % index)
        src.write_bytes(data)
        Marker.complete(hashlib.sha256(data).hexdigest(), len(data), 'test', 1).write(str(src) + '.done')
    temp = create_temp_beside(str(tmp_path / 'out' / 'f007.csv'))
    create_temp_beside(str(tmp_path / 'out' / 'elsewhere.csv'))
    listed = []
    real_listdir, real_scandir = os.listdir, os.scandir
    monkeypatch.setattr(os, 'listdir', lambda path='.': listed.append(str(path)) or real_listdir(path))
    monkeypatch.setattr(os, 'scandir', lambda path='.': listed.append(str(path)) or real_scandir(path))
    result = drain()
    assert len(result['moved']) == 200
    assert result['leftover_temps'] == [temp]
    assert sorted(listed) == sorted([str(inbox), str(tmp_path / 'out')])


def test_symlinks_and_fifos_in_the_inbox_are_listed_as_skipped(drain, tmp_path):
    inbox = tmp_path / 'in'
    inbox.mkdir()
    for name in ('a.csv', 'b.csv'):
        data = name.encode()
        (inbox / name).write_bytes(data)
        Marker.complete(hashlib.sha256(data).hexdigest(), len(data), 'test', 1).write(str(inbox / name) + '.done')
    (inbox / 'link.csv').symlink_to('/etc/shadow')
    os.mkfifo(inbox / 'pipe.csv')
    (inbox / 'subdir').mkdir()
    result = drain()
    assert [item['src'] for item in result['moved']] == [str(inbox / 'a.csv'), str(inbox / 'b.csv')]
    assert [(item['path'], item['reason'].split(';')[0]) for item in result['skipped']] == [
        (str(inbox / 'link.csv'), 'not a regular file (a symlink)'),
        (str(inbox / 'pipe.csv'), 'not a regular file (a FIFO)')]
    assert '2 skipped' in result['msg']


def test_a_file_swapped_for_a_fifo_during_the_drain_does_not_stop_the_others(drain, tmp_path, monkeypatch,
                                                                             fails_instead_of_hanging):
    inbox = tmp_path / 'in'
    inbox.mkdir()
    for name in ('a.csv', 'b.csv', 'c.csv'):
        (inbox / name).write_bytes(name.encode())
    real_judge = _move.Move._judge_source

    def judge_then_swap_b(self, verify_here):
        seen = real_judge(self, verify_here)
        if self.src.endswith('b.csv'):
            os.unlink(self.src)
            os.mkfifo(self.src)
        return seen

    monkeypatch.setattr(_move.Move, '_judge_source', judge_then_swap_b)
    result = drain(require_marker=False)
    assert [item['src'] for item in result['moved']] == [str(inbox / 'a.csv'), str(inbox / 'c.csv')]
    assert [item['path'] for item in result['skipped']] == [str(inbox / 'b.csv')]
    assert 'not a regular file' in result['skipped'][0]['reason']


def test_a_marker_nested_too_deep_to_parse_is_reported_and_the_other_files_move(drain, tmp_path):
    inbox = tmp_path / 'in'
    inbox.mkdir()
    for name in ('a.csv', 'b.csv'):
        (inbox / name).write_bytes(b'data\n')
        Marker.complete(hashlib.sha256(b'data\n').hexdigest(), 5, 'test', 1).write(str(inbox / name) + '.done')
    (inbox / 'hostile.csv').write_bytes(b'data\n')
    (inbox / 'hostile.csv.done').write_bytes(b'[' * 30000 + b']' * 30000)
    result = drain()
    assert sorted(os.path.basename(moved['dest']) for moved in result['moved']) == ['a.csv', 'b.csv']
    assert [item['src'] for item in result['not_ready']] == [str(inbox / 'hostile.csv')]
    assert 'nests JSON deeper than Python can parse' in result['not_ready'][0]['reason']


@pytest.mark.parametrize('batch_lock', [False, True])
def test_a_file_whose_dest_marker_name_would_be_too_long_is_reported_and_the_others_move(drain, tmp_path, batch_lock):
    inbox = tmp_path / 'in'
    inbox.mkdir()
    limit = os.pathconf(str(inbox), 'PC_NAME_MAX')
    names = ['a.csv', 'l' * (limit - 22)]  # the long one's marker fits; the temp of its marker beside dest does not
    for name in names:
        (inbox / name).write_bytes(b'data\n')  # a producer writing in place, as a shell script may
        (inbox / (name + '.done')).write_bytes(Marker.complete(hashlib.sha256(b'data\n').hexdigest(), 5, 'test',
                                                               1).to_bytes())
    options = dict(marker='move')
    if batch_lock:
        options['lock_path'] = str(tmp_path / 'batch.lock')
    result = drain(**options)
    assert [os.path.basename(moved['dest']) for moved in result['moved']] == ['a.csv']
    (refused,) = result['not_ready']
    assert refused['src'] == str(inbox / names[1]) and 'NAME_MAX' in refused['reason']
    assert (inbox / names[1]).exists() and not (tmp_path / 'out' / names[1]).exists()
