# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload with a list of files, target side: each file published by protocol v1, in two module runs for all
(probe, then publish from the staged archive) or, for a small list, in one that carries every file (inline)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _publish_core, _upload
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import UnsafeArchive
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    INLINE_OPTION, REQUEST_OPTION, RequestError, build_request, encode_inline)
from ansible_collections.lockstep.handoff.plugins.modules.atomic_upload import argument_spec, backend
from tests.support.hostile_user import canary_file, run_as, shared_directory, unchanged


def entry(dest, data, **options):
    return dict(dict(dest=str(dest), sha256=hashlib.sha256(data).hexdigest(), size=len(data), mode=None, owner=None,
                     group=None, marker_path=None, lock_path=None), **options)


@pytest.fixture
def files(tmp_path):
    """Two files in two directories, and their data."""
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'srv').mkdir()
    return [(tmp_path / 'etc' / 'a.conf', b'alpha\n'), (tmp_path / 'srv' / 'b.txt', b'bravo\n')]


@pytest.fixture
def phase(make_module):
    """``phase(name, entries, check_mode=False, diff=False, **fields)``: one module run of a list phase."""
    def run(name, entries, check_mode=False, diff=False, state_dir=None, lock=False, create_parents=False, inline=None,
            **fields):
        fields = dict(fields, files=entries, producer='test', host=None)
        if name in ('probe_files', 'inline_files'):
            fields['max_diff_size'] = 1024
        module = make_module(argument_spec(), check_mode=check_mode, diff=diff, state_dir=state_dir, lock=lock,
                             create_parents=create_parents,
                             **{REQUEST_OPTION: build_request(name, **fields),
                                INLINE_OPTION: None if inline is None else encode_inline(inline)})
        return backend(module).run()
    return run


def staged_archive(tmp_path, members):
    """The archive the action plugin sends, in a private directory as the remote temp directory is."""
    private = tmp_path / 'remote-tmp'
    private.mkdir(mode=0o700, exist_ok=True)
    path = private / 'atomic_upload.tar'
    path.write_bytes(tar_of(members))
    return str(path)


def tar_of(members):
    """An uncompressed tar of ``members`` (name: bytes), as the action plugin builds it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(phase, tmp_path, entries, datas):
    probe = phase('probe_files', entries)
    if not probe['files_changed']:
        return probe, None
    archive = staged_archive(tmp_path, {name: datas[int(name)] for name in probe['files_changed']})
    return probe, phase('publish_files', entries, staged_path=archive, changed=probe['files_changed'])


def test_each_file_gets_its_data_and_its_own_protocol_v1_marker(phase, files, tmp_path):
    entries = [entry(path, data, mode='0640') for path, data in files]
    probe, publish = upload(phase, tmp_path, entries, [data for dummy, data in files])
    assert probe['files_changed'] == ['0', '1'] and probe['changed'] is True
    assert [result['action'] for result in publish['files']] == ['transfer', 'transfer']
    for (path, data), result in zip(files, publish['files']):
        assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o640
        assert result['marker_path'] == str(path) + '.done'
        assert Marker.read(result['marker_path']).describes(hashlib.sha256(data).hexdigest(), len(data))
        assert [name for name in os.listdir(str(path.parent)) if name.endswith('.tmp')] == []
    again, dummy = upload(phase, tmp_path, entries, [data for dummy, data in files])
    assert (again['changed'], again['files_changed'], again['action']) == (False, [], 'none')


def test_only_the_changed_file_is_asked_for(phase, files, tmp_path):
    entries = [entry(path, data) for path, data in files]
    upload(phase, tmp_path, entries, [data for dummy, data in files])
    files[1][0].write_bytes(b'other\n')
    probe = phase('probe_files', entries)
    assert probe['files_changed'] == ['1']
    assert [result['action'] for result in probe['files']] == ['none', 'transfer']


def test_a_file_that_fails_is_reported_in_its_result_and_the_others_are_published(phase, files, tmp_path):
    entries = [entry(tmp_path / 'missing' / 'x.conf', b'x\n')] + [entry(path, data) for path, data in files]
    datas = [b'x\n'] + [data for dummy, data in files]
    probe = phase('probe_files', entries)
    assert probe['files'][0]['failed'] is True and 'missing' in probe['files'][0]['msg']
    assert probe['files_changed'] == ['1', '2']
    publish = phase('publish_files', entries, staged_path=staged_archive(tmp_path, {'1': datas[1], '2': datas[2]}),
                    changed=['1', '2'])
    assert [result['action'] for result in publish['files']] == ['none', 'transfer', 'transfer']
    assert files[0][0].read_bytes() == files[0][1]


def test_check_mode_reports_the_changes_and_writes_nothing(phase, files):
    entries = [entry(path, data) for path, data in files]
    probe = phase('probe_files', entries, check_mode=True)
    assert probe['files_changed'] == ['0', '1']
    assert [os.listdir(str(path.parent)) for path, dummy in files] == [[], []]


def test_check_mode_predicts_a_file_whose_directories_a_task_before_would_create(phase, files, tmp_path):
    entries = [entry(tmp_path / 'new' / 'x.conf', b'x\n')]
    probe = phase('probe_files', entries, check_mode=True, state_dir='.handoff', lock=True)
    assert probe['files_changed'] == ['0']
    assert probe['files'][0]['missing_directories'] == [str(tmp_path / 'new'), str(tmp_path / 'new' / '.handoff')]
    real = phase('probe_files', entries, state_dir='.handoff', lock=True)
    assert real['files'][0]['failed'] is True and real['files_changed'] == []


def test_create_parents_makes_every_files_directories_in_the_probe_and_check_mode_lists_them(phase, tmp_path):
    datas = [b'x\n', b'y\n']
    entries = [entry(tmp_path / 'new' / 'a' / 'x.conf', datas[0]), entry(tmp_path / 'new' / 'b' / 'y.conf', datas[1])]
    checked = phase('probe_files', entries, check_mode=True, state_dir='.handoff', lock=True, create_parents=True)
    assert checked['files_changed'] == ['0', '1'] and os.listdir(str(tmp_path)) == []
    assert checked['files'][0]['created_directories'] == [
        str(tmp_path / 'new'), str(tmp_path / 'new' / 'a'), str(tmp_path / 'new' / 'a' / '.handoff')]
    probe = phase('probe_files', entries, state_dir='.handoff', lock=True, create_parents=True)
    assert [result['created_directories'] for result in probe['files']] == [
        [str(tmp_path / 'new'), str(tmp_path / 'new' / 'a'), str(tmp_path / 'new' / 'a' / '.handoff')],
        [str(tmp_path / 'new' / 'b'), str(tmp_path / 'new' / 'b' / '.handoff')]]
    publish = phase('publish_files', entries, staged_path=staged_archive(tmp_path, {'0': datas[0], '1': datas[1]}),
                    changed=['0', '1'], state_dir='.handoff', lock=True, create_parents=True)
    assert [result['action'] for result in publish['files']] == ['transfer', 'transfer']
    assert Marker.read(str(tmp_path / 'new' / 'b' / '.handoff' / 'y.conf.done')).describes(
        hashlib.sha256(datas[1]).hexdigest(), len(datas[1]))


def test_check_and_diff_mode_show_a_file_in_a_directory_not_made_yet_as_new(phase, tmp_path):
    entries = [entry(tmp_path / 'new' / 'x.conf', b'x\n')]
    probe = phase('probe_files', entries, check_mode=True, diff=True, create_parents=True)
    assert probe['files'][0]['diff_before'] == {'absent': True}


def test_a_file_whose_bytes_differ_from_its_announced_sha256_is_not_published(phase, files, tmp_path):
    entries = [entry(path, data) for path, data in files]
    archive = staged_archive(tmp_path, {'0': b'ALPHA\n', '1': files[1][1]})
    publish = phase('publish_files', entries, staged_path=archive, changed=['0', '1'])
    assert publish['files'][0]['failed'] is True and 'checksum mismatch' in publish['files'][0]['msg']
    assert not files[0][0].exists() and files[1][0].read_bytes() == files[1][1]


def test_a_cancelled_job_stops_the_list_before_the_next_file(phase, files, tmp_path, monkeypatch):
    def gone(doing):
        raise ControllerGone('ansible-playbook went away before ' + doing)
    monkeypatch.setattr(_publish_core, 'stop_if_controller_gone', gone)
    entries = [entry(path, data) for path, data in files]
    archive = staged_archive(tmp_path, {'0': files[0][1], '1': files[1][1]})
    with pytest.raises(ControllerGone, match='replacing %s' % files[0][0]):
        phase('publish_files', entries, staged_path=archive, changed=['0', '1'])
    assert not files[0][0].exists() and not files[1][0].exists()


@pytest.mark.parametrize('members, error', [
    ({'0': b'alpha\n', '9': b'x'}, 'not one of the files the controller announced'),
    ({'0': b'alpha\n'}, 'lacks 1 announced file'),
])
def test_an_archive_that_is_not_what_was_announced_publishes_nothing_more(phase, files, tmp_path, members, error):
    entries = [entry(path, data) for path, data in files]
    with pytest.raises(UnsafeArchive, match=error):
        phase('publish_files', entries, staged_path=staged_archive(tmp_path, members), changed=['0', '1'])


def test_a_request_naming_a_file_not_in_the_list_is_refused(phase, files, tmp_path):
    with pytest.raises(HandoffError, match='not in the list: 5'):
        phase('publish_files', [entry(files[0][0], files[0][1])], staged_path=staged_archive(tmp_path, {}),
              changed=['5'])


@pytest.mark.parametrize('lock', [True, False])
def test_a_state_dir_swapped_for_a_symlink_after_the_probe_fails_that_file_only(phase, files, tmp_path, attacker,
                                                                                lock):
    """A group member of one dest's directory replaced its ``.handoff`` with a link to a root-only directory
    between the probe and the publish: nothing is written through the link, the other file is published."""
    shared = shared_directory(files[0][0].parent, attacker)
    for path, dummy in files:
        (path.parent / '.handoff').mkdir()
    private = tmp_path / 'root-only'
    private.mkdir(mode=0o700)
    canary = canary_file(private / 'canary')
    entries = [entry(path, data) for path, data in files]
    probe = phase('probe_files', entries, state_dir='.handoff', lock=lock)
    assert probe['files_changed'] == ['0', '1']
    run_as(attacker, 'mv %s/.handoff %s/.old && ln -s %s %s/.handoff' % (shared, shared, private, shared))
    archive = staged_archive(tmp_path, {'0': files[0][1], '1': files[1][1]})
    publish = phase('publish_files', entries, staged_path=archive, changed=['0', '1'], state_dir='.handoff',
                    lock=lock)
    assert publish['files'][0]['failed'] is True and 'not a directory' in publish['files'][0]['msg']
    assert publish['files'][1]['action'] == 'transfer'
    assert files[1][0].read_bytes() == files[1][1]
    assert os.listdir(private) == ['canary'] and unchanged(canary)
    assert not os.path.lexists(files[0][0])


def test_a_dest_swapped_after_it_was_found_to_hold_the_data_gets_no_attributes(phase, files, tmp_path, attacker,
                                                                               monkeypatch):
    """The probe found dest (root's) holding the data, then a group member swapped in their own 0666 copy of the
    same bytes: the probe chowned and chmodded that inode, theirs and possibly still open, as dest."""
    shared = shared_directory(files[0][0].parent, attacker)
    entries = [entry(path, data) for path, data in files]
    upload(phase, tmp_path, entries, [data for dummy, data in files])
    dest = files[0][0]
    real_sha256_of_path = _upload.sha256_of_path

    def hash_then_swap(path, expected=None):
        hashed = real_sha256_of_path(path, expected=expected)
        if path == str(dest):
            run_as(attacker, 'cp %s %s/x && chmod 666 %s/x && mv -f %s/x %s' % (dest, shared, shared, shared, dest))
        return hashed

    monkeypatch.setattr(_upload, 'sha256_of_path', hash_then_swap)
    probe = phase('probe_files', [entry(path, data, owner='root', mode='0644') for path, data in files])
    st = os.lstat(dest)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (attacker.uid, 0o666), 'their inode was left as it is'
    assert probe['files'][0]['failed'] is True and 'replaced' in probe['files'][0]['msg']
    assert not probe['files'][1].get('failed')


def test_a_small_list_is_probed_and_its_changed_files_published_in_one_run(phase, files, tmp_path):
    """The inline run carries every file; the one already in place keeps its inode and its marker's generation."""
    entries = [entry(path, data, mode='0640') for path, data in files]
    first = phase('inline_files', entries[:1], inline=tar_of({'0': files[0][1]}))
    assert first['files_changed'] == ['0'] and first['files'][0]['transfer_path'] == 'inline'
    in_place = files[0][0].stat().st_ino
    result = phase('inline_files', entries, inline=tar_of({'0': files[0][1], '1': files[1][1]}))
    assert (result['changed'], result['files_changed'], result['action']) == (True, ['1'], 'transfer')
    assert [item['action'] for item in result['files']] == ['none', 'transfer']
    assert result['files'][1]['transfer_path'] == 'inline' and result['files'][1]['generation'] == 1
    assert files[0][0].stat().st_ino == in_place
    for path, data in files:
        assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o640
        marker = Marker.read(str(path) + '.done')
        assert (marker.state, marker.sha256, marker.size) == ('complete', hashlib.sha256(data).hexdigest(), len(data))
    again = phase('inline_files', entries, inline=tar_of({'0': files[0][1], '1': files[1][1]}))
    assert (again['changed'], again['files_changed']) == (False, [])


def test_an_inline_file_whose_bytes_differ_from_its_announced_sha256_fails_alone(phase, files):
    entries = [entry(path, data) for path, data in files]
    result = phase('inline_files', entries, inline=tar_of({'0': b'ALPHA\n', '1': files[1][1]}))
    assert result['files'][0]['failed'] is True and 'checksum mismatch' in result['files'][0]['msg']
    assert not files[0][0].exists() and files[1][0].read_bytes() == files[1][1]


def test_inline_bytes_that_lack_a_file_of_the_list_publish_nothing_more(phase, files):
    entries = [entry(path, data) for path, data in files]
    with pytest.raises(UnsafeArchive, match='lacks 1 announced file'):
        phase('inline_files', entries, inline=tar_of({'0': files[0][1]}))


def test_an_inline_run_without_its_bytes_is_refused_before_anything_is_looked_at(phase, files):
    with pytest.raises(RequestError, match='phase inline_files needs _inline'):
        phase('inline_files', [entry(path, data) for path, data in files])
    assert not any(path.exists() for path, dummy in files)
