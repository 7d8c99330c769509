# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload with a directory src, target side: probe, publish of one archive, one manifest last."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _upload_set
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry, entries_from_list
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_FAILED, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LeaseLost
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.redis import lock_keys
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.settings import RedisLockSettings
from ansible_collections.lockstep.handoff.plugins.module_utils._publish_core import PublishCore
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import INLINE_OPTION, encode_inline
from ansible_collections.lockstep.handoff.plugins.modules.atomic_upload import argument_spec, backend
from tests.support.hostile_user import canary_file, plant_backup_names, run_as, shared_directory, unchanged
from tests.support.upload_request import upload_module_args

REDIS_PREFIX = 'test:set:'
FILES = {'a.csv': b'alpha\n', 'b.csv': b'bravo\n', 'sub/c.csv': b'charlie\n'}


def entries(files):
    return [{'path': path, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}
            for path, data in sorted(files.items())]


@pytest.fixture
def dest(tmp_path):
    return tmp_path / 'batch'


@pytest.fixture
def phase(make_module, dest):
    """``phase(name, files=None, check_mode=False, diff=False, **options)``: one phase for ``files`` (FILES)."""
    def run(name, files=None, check_mode=False, diff=False, **options):
        files = FILES if files is None else files
        options.setdefault('dest', str(dest))
        module = make_module(argument_spec(), check_mode=check_mode, diff=diff,
                             **upload_module_args(name, _files=entries(files), **options))
        return backend(module).run()
    return run


@pytest.fixture
def inline_phase(make_module, dest):
    """``inline_phase(files=None, archive=None, **options)``: the one-run phase carrying ``archive`` (every file)."""
    def run(files=None, archive=None, check_mode=False, diff=False, **options):
        files = FILES if files is None else files
        options.setdefault('dest', str(dest))
        buffer = io.BytesIO()
        write_tar(buffer, files if archive is None else archive)
        module_args = upload_module_args('inline', _files=entries(files), **options)
        module_args[INLINE_OPTION] = encode_inline(buffer.getvalue())
        return backend(make_module(argument_spec(), check_mode=check_mode, diff=diff, **module_args)).run()
    return run


def write_tar(path, members):
    """A real tar of ``members`` ({name: bytes}) written into ``path``, as the action plugin builds it."""
    with (tarfile.open(fileobj=path, mode='w') if isinstance(path, io.BytesIO) else tarfile.open(str(path), 'w')) as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))


def upload(phase, files=None, archive=None, **options):
    """Probe, send the changed files of ``files`` (FILES) or ``archive`` straight into the staging temp, publish."""
    files = FILES if files is None else files
    probe = phase('probe', files=files, _direct=True, **options)
    if probe['action'] != 'transfer':
        return probe, probe
    write_tar(probe['staging_path'], archive if archive is not None else
              {path: files[path] for path in probe['files_changed']})
    publish = phase('publish', files=files, _direct=True, _staged_path=probe['staging_path'],
                    _changed=probe['files_changed'], **options)
    return probe, publish


def tree(root):
    found = {}
    for directory, dummy, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, str(root))] = open(path, 'rb').read()
    return found


def test_fresh_set_is_published_with_one_manifest(phase, dest):
    probe, publish = upload(phase)
    assert probe['files_changed'] == ['a.csv', 'b.csv', 'sub/c.csv']
    assert (publish['changed'], publish['action'], publish['generation'], publish['files']) == (True, 'transfer', 1, 3)
    assert tree(dest) == FILES
    manifest = Marker.read(str(dest) + '.done')
    assert manifest.describes_set([FileEntry(**item) for item in entries(FILES)])
    assert (manifest.sha256, manifest.size) == (publish['sha256'], publish['size'])


def test_unchanged_set_costs_a_probe_only(phase, dest):
    upload(phase)
    probe = phase('probe', _direct=True)
    assert (probe['changed'], probe['action'], probe['files_changed']) == (False, 'none', [])
    assert 'staging_path' not in probe
    assert sorted(os.listdir(str(dest))) == ['a.csv', 'b.csv', 'sub']


def test_only_changed_files_are_asked_for_and_the_others_keep_their_inode(phase, dest):
    upload(phase)
    inode = os.stat(str(dest / 'a.csv')).st_ino
    files = dict(FILES, **{'b.csv': b'BRAVO\n', 'sub/new.csv': b'new\n'})
    probe, publish = upload(phase, files=files)
    assert probe['files_changed'] == ['b.csv', 'sub/new.csv']
    assert publish['generation'] == 2
    assert tree(dest) == files
    assert os.stat(str(dest / 'a.csv')).st_ino == inode


def test_a_small_set_is_probed_and_published_in_one_run_from_the_bytes_it_carries(inline_phase, dest):
    result = inline_phase(diff=True)
    assert (result['changed'], result['action'], result['generation']) == (True, 'transfer', 1)
    assert (result['files_changed'], result['transfer_path']) == (['a.csv', 'b.csv', 'sub/c.csv'], 'inline')
    assert tree(dest) == FILES and 'staging_path' not in result
    assert result['diff']['after'].count('\n') == 3
    assert Marker.read(str(dest) + '.done').describes_set([FileEntry(**item) for item in entries(FILES)])


def test_an_inline_run_publishes_only_what_changed_and_leaves_the_rest_alone(inline_phase, dest):
    inline_phase()
    inode = os.stat(str(dest / 'a.csv')).st_ino
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    result = inline_phase(files=files)
    assert (result['files_changed'], result['generation']) == (['b.csv'], 2)
    assert tree(dest) == files and os.stat(str(dest / 'a.csv')).st_ino == inode
    again = inline_phase(files=files)
    assert (again['changed'], again['action'], again['files_changed']) == (False, 'none', [])
    assert Marker.read(str(dest) + '.done').generation == 2


def test_an_inline_archive_that_lacks_a_file_publishes_nothing(inline_phase, dest):
    with pytest.raises(HandoffError, match='the archive lacks 1 announced file'):
        inline_phase(archive={path: data for path, data in FILES.items() if path != 'b.csv'})
    assert tree(dest) == {}
    assert Marker.read(str(dest) + '.done').state == STATE_FAILED


def test_an_inline_member_that_is_not_the_announced_data_fails_and_keeps_the_complete_manifest(inline_phase, dest):
    inline_phase()
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    with pytest.raises(HandoffError, match='checksum mismatch after transfer of .*b.csv'):
        inline_phase(files=files, archive=dict(FILES, **{'b.csv': b'bRAVO\n'}))
    assert tree(dest) == FILES
    assert Marker.read(str(dest) + '.done').generation == 1


def test_missing_manifest_is_written_without_sending_data(phase, dest):
    upload(phase)
    os.unlink(str(dest) + '.done')
    probe = phase('probe', _direct=True)
    assert (probe['changed'], probe['action']) == (True, 'marker')
    assert Marker.read(str(dest) + '.done').generation == 1


def test_check_mode_creates_nothing_and_diff_lists_the_files(phase, dest, tmp_path):
    result = phase('probe', check_mode=True, diff=True, _direct=True)
    assert (result['changed'], result['files_changed']) == (True, ['a.csv', 'b.csv', 'sub/c.csv'])
    assert result['diff']['before'] == ''
    assert result['diff']['after'].splitlines()[0] == '%s  a.csv' % hashlib.sha256(FILES['a.csv']).hexdigest()
    assert os.listdir(str(tmp_path)) == []


def test_check_mode_reports_a_set_into_a_directory_not_made_yet(phase, tmp_path):
    dest = tmp_path / 'made-by-an-earlier-task' / 'batch'
    result = phase('probe', check_mode=True, _direct=True, dest=str(dest))
    assert (result['changed'], result['action']) == (True, 'transfer')
    assert result['files_changed'] == ['a.csv', 'b.csv', 'sub/c.csv']
    assert result['msg'].startswith('check mode: %s does not exist yet' % dest.parent)
    assert 'staging_path' not in result and os.listdir(str(tmp_path)) == []
    with pytest.raises(HandoffError, match='its directory .* does not exist; create it first'):
        phase('probe', _direct=True, dest=str(dest))


def test_changed_file_is_judged_by_the_manifest_without_reading_it(phase, dest):
    """A complete manifest naming other data answers the probe: the diff shows the manifest's sha256."""
    upload(phase)
    claimed = 'ab' * 32
    doc = [FileEntry(item['path'], item['size'], claimed if item['path'] == 'b.csv' else item['sha256'])
           for item in entries(FILES)]
    Marker.complete_set(doc, 'test', 1).write(str(dest) + '.done')
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    probe = phase('probe', files=files, check_mode=True, diff=True)
    assert probe['diff']['before'] == '%s  b.csv\n' % claimed


def test_archive_with_an_unannounced_member_is_rejected_and_nothing_changes(phase, dest):
    upload(phase)
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    with pytest.raises(HandoffError, match='is not one of the files the controller announced'):
        upload(phase, files=files, archive={'b.csv': b'BRAVO\n', 'evil.sh': b'x'})
    assert tree(dest) == FILES
    assert Marker.read(str(dest) + '.done').generation == 1
    assert not [name for name in os.listdir(str(dest)) if name.endswith('.tmp')]


def test_archive_with_a_symlink_member_is_rejected(phase, dest):
    probe = phase('probe', _direct=True)
    with tarfile.open(probe['staging_path'], 'w') as tar:
        info = tarfile.TarInfo('a.csv')
        info.type = tarfile.SYMTYPE
        info.linkname = '/etc/shadow'
        tar.addfile(info)
    with pytest.raises(HandoffError, match="archive member 'a.csv' is a symlink"):
        phase('publish', _direct=True, _staged_path=probe['staging_path'], _changed=['a.csv', 'b.csv', 'sub/c.csv'])
    assert tree(dest) == {}
    assert Marker.read(str(dest) + '.done').state == STATE_FAILED


def test_checksum_mismatch_in_the_archive_fails_and_keeps_the_complete_manifest(phase, dest):
    upload(phase)
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    with pytest.raises(HandoffError, match='checksum mismatch after transfer') as caught:
        upload(phase, files=files, archive={'b.csv': b'bravO\n'})
    assert 'complete marker of the version in place was kept' in caught.value.msg
    assert tree(dest) == FILES


def test_a_symlinked_subdirectory_in_dest_is_refused_at_the_probe(phase, dest, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    dest.mkdir()
    (dest / 'sub').symlink_to(outside)
    with pytest.raises(HandoffError, match='is a symlink'):
        phase('probe', _direct=True)
    assert os.listdir(str(outside)) == []


def test_file_changed_between_probe_and_publish_stops_the_publish(phase, dest):
    upload(phase)
    files = dict(FILES, **{'b.csv': b'BRAVO\n'})
    probe = phase('probe', files=files, _direct=True)
    (dest / 'a.csv').write_bytes(b'someone else\n')
    write_tar(probe['staging_path'], {'b.csv': files['b.csv']})
    with pytest.raises(HandoffError, match='changed on the host between the probe and the publish'):
        phase('publish', files=files, _direct=True, _staged_path=probe['staging_path'], _changed=['b.csv'])
    assert (dest / 'b.csv').read_bytes() == FILES['b.csv']


def test_a_publish_naming_a_file_outside_the_set_is_refused(phase, dest):
    probe = phase('probe', _direct=True)
    with pytest.raises(HandoffError, match='names changed files that are not in the set: x.csv'):
        phase('publish', _direct=True, _staged_path=probe['staging_path'], _changed=['a.csv', 'x.csv'])
    assert sorted(os.listdir(dest)) == [os.path.basename(probe['staging_path'])]


def test_force_false_is_refused_for_a_set(phase):
    with pytest.raises(HandoffError, match='force=false applies to one file'):
        phase('probe', force=False)


def redis_lease(redis_server):
    """Options that publish under a Redis lease on the test's redis-server."""
    return dict(lock=True, lock_type='redis', redis_host='127.0.0.1', redis_port=redis_server.port,
                redis_password=redis_server.password, redis_key_prefix=REDIS_PREFIX)


def test_a_set_published_under_a_redis_lease_records_its_fencing_token(phase, dest, redis_server):
    dummy, publish = upload(phase, **redis_lease(redis_server))
    token = publish['fencing_token']
    assert token >= 1 and Marker.read(str(dest) + '.done').fencing_token == token
    assert redis_server.command('GET', lock_keys(REDIS_PREFIX, str(dest) + '.lock')[2]) == str(token)
    assert upload(phase, **redis_lease(redis_server))[1]['changed'] is False


def test_a_stale_holders_set_publish_is_refused_and_nothing_changes(phase, dest, redis_server, monkeypatch):
    upload(phase)
    manifest_before = (dest.parent / 'batch.done').read_bytes()
    name = str(dest) + '.lock'
    confirm = PublishCore.confirm_lease

    def lease_lost_to_a_newer_holder(self, lock, result):
        """Our lease expires right before the renames; a newer holder takes the lock and publishes."""
        redis_server.command('DEL', lock_keys(REDIS_PREFIX, name)[0])
        with acquire(name, 0, lock_type='redis', redis=RedisLockSettings(redis_server.server, REDIS_PREFIX, 5)) \
                as newer:
            newer.confirm_before_publish(str(dest))
        return confirm(self, lock, result)

    monkeypatch.setattr(PublishCore, 'confirm_lease', lease_lost_to_a_newer_holder)
    with pytest.raises(LeaseLost, match='refusing a stale write to %s: the lease on redis lock' % dest) as refused:
        upload(phase, files=dict(FILES, **{'b.csv': b'BRAVO\n', 'd.csv': b'delta\n'}), **redis_lease(redis_server))
    assert refused.value.details['fencing_token'] >= 1
    assert tree(dest) == {'a.csv': b'alpha\n', 'b.csv': b'bravo\n', 'sub/c.csv': b'charlie\n'}
    assert (dest.parent / 'batch.done').read_bytes() == manifest_before


def test_dest_that_is_a_file_is_refused(phase, dest):
    dest.write_bytes(b'')
    with pytest.raises(HandoffError, match='dest .* must be a directory too'):
        phase('probe')


def test_relocated_manifest_and_leftover_temps_are_reaped(phase, dest, tmp_path):
    marker_path = tmp_path / 'state' / 'batch.manifest'
    marker_path.parent.mkdir()
    upload(phase, marker_path=str(marker_path))
    leftover = dest / 'sub' / '.c.csv.0123456789ab.tmp'
    leftover.write_bytes(b'partial')
    probe = phase('probe', marker_path=str(marker_path), remove_temps_older_than=0)
    assert probe['removed_temps'] == [str(leftover)]
    assert not leftover.exists()
    assert Marker.read(str(marker_path)).is_manifest


def test_state_dir_holds_the_manifest_and_lock_of_a_set_given_with_a_trailing_slash(phase, dest, tmp_path):
    (tmp_path / '.handoff').mkdir()
    probe, publish = upload(phase, dest=str(dest) + '/', state_dir='.handoff', lock=True)
    assert publish['marker_path'] == str(tmp_path / '.handoff' / 'batch.done')
    assert Marker.read(publish['marker_path']).describes_set(entries_from_list(entries(FILES), 'test'))
    assert sorted(os.listdir(tmp_path / '.handoff')) == ['batch.done', 'batch.lock']
    assert sorted(os.listdir(tmp_path)) == ['.handoff', 'batch']


def test_a_set_into_a_directory_others_can_write_is_staged_not_sent_direct(attacker, phase, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    probe = phase('probe', dest=str(shared / 'batch'), _direct=True)
    assert 'staging_path' not in probe
    assert probe['transfer_path'] == 'staged'
    staged = tmp_path / 'atomic_upload.tar'
    write_tar(staged, FILES)
    result = phase('publish', dest=str(shared / 'batch'), _staged_path=str(staged), _changed=sorted(FILES))
    assert result['transfer_path'] == 'staged'
    assert tree(shared / 'batch') == FILES


def test_a_set_member_temp_swapped_for_a_symlink_changes_no_other_file(attacker, phase, tmp_path, monkeypatch):
    """Attack 2 for sets: the attacker swaps a member's temp for a link to a root-only file right after the copy."""
    shared = shared_directory(tmp_path / 'shared', attacker)
    batch = shared_directory(shared / 'batch', attacker)
    canary = canary_file(tmp_path / 'canary')
    staged = tmp_path / 'atomic_upload.tar'
    write_tar(staged, FILES)
    real_copy = _upload_set.copy_reader_with_sha256

    def copy_then_swap(reader, dst_fd):
        copied = real_copy(reader, dst_fd)
        temps = [name for name in os.listdir(batch) if name.startswith('.a.csv.') and name.endswith('.tmp')]
        if temps:
            temp = batch / temps[0]
            run_as(attacker, 'mv %s %s/stolen && ln -s %s %s' % (temp, batch, canary, temp))
        return copied

    monkeypatch.setattr(_upload_set, 'copy_reader_with_sha256', copy_then_swap)
    with pytest.raises(HandoffError, match='replaced by another file'):
        phase('publish', dest=str(batch), _staged_path=str(staged), _changed=sorted(FILES), mode='0666',
              owner=attacker.name)
    assert unchanged(canary)
    assert not os.path.lexists(batch / 'a.csv')
    assert Marker.read(str(batch) + '.done').state == STATE_FAILED


def test_a_set_subdirectory_swapped_for_a_symlink_is_not_written_through(attacker, phase, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    batch = shared_directory(shared / 'batch', attacker)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (batch / 'sub').symlink_to(elsewhere)
    staged = tmp_path / 'atomic_upload.tar'
    write_tar(staged, FILES)
    with pytest.raises(HandoffError, match='symlink'):
        phase('publish', dest=str(batch), _staged_path=str(staged), _changed=sorted(FILES))
    assert os.listdir(elsewhere) == []


def test_a_manifest_is_no_wider_than_the_files_it_lists(phase, dest):
    upload(phase, mode='0640')
    assert os.stat(str(dest) + '.done').st_mode & 0o777 == 0o640


@pytest.mark.parametrize('replacement', ['mkdir {sub}', 'ln -s {moved} {sub}'])
def test_a_set_subdirectory_moved_away_while_held_fails_the_task(attacker, phase, tmp_path, monkeypatch, replacement):
    """The attacker renames a group-writable subdirectory away while the task holds its fd and puts an empty directory
    (or a link to the moved one) at its name: the files land in the moved directory, so the task must not succeed."""
    shared = shared_directory(tmp_path / 'shared', attacker)
    batch = shared_directory(shared / 'batch', attacker)
    sub = shared_directory(batch / 'sub', attacker)
    staged = tmp_path / 'atomic_upload.tar'
    write_tar(staged, FILES)
    real_copy = _upload_set.copy_reader_with_sha256

    def copy_then_move_directory(reader, dst_fd):
        copied = real_copy(reader, dst_fd)
        if os.path.isdir(sub) and not os.path.islink(sub) and any(name.startswith('.c.csv.') for name in os.listdir(sub)):
            moved = batch / 'moved'
            run_as(attacker, 'mv %s %s && %s' % (sub, moved, replacement.format(sub=sub, moved=moved)))
        return copied

    monkeypatch.setattr(_upload_set, 'copy_reader_with_sha256', copy_then_move_directory)
    with pytest.raises(HandoffError, match='sub/c.csv'):
        phase('publish', dest=str(batch), _staged_path=str(staged), _changed=sorted(FILES))
    assert Marker.read(str(batch) + '.done').state == STATE_FAILED


def test_a_planted_backup_name_fails_the_set_and_keeps_its_files_and_the_root_only_file(attacker, phase, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    batch = shared_directory(shared / 'batch', attacker)
    canary = canary_file(tmp_path / 'canary')
    (batch / 'a.csv').write_bytes(b'old\n')
    plant_backup_names(attacker, batch, 'a.csv', canary)
    staged = tmp_path / 'atomic_upload.tar'
    write_tar(staged, FILES)
    with pytest.raises(HandoffError, match='backup name'):
        phase('publish', dest=str(batch), _staged_path=str(staged), _changed=sorted(FILES), backup=True)
    assert unchanged(canary)
    assert (batch / 'a.csv').read_bytes() == b'old\n'
    assert not (batch / 'b.csv').exists()


def test_a_set_backup_keeps_each_replaced_file(phase, dest):
    upload(phase)
    changed = dict(FILES, **{'a.csv': b'alpha 2\n'})
    dummy, publish = upload(phase, files=changed, backup=True)
    assert [open(path, 'rb').read() for path in publish['backup_files']] == [b'alpha\n']


def test_a_file_of_the_set_swapped_after_it_was_found_in_place_gets_no_attributes(phase, dest, attacker,
                                                                                  monkeypatch):
    """Every file was in place, then a group member of the shared set directory swapped in their own 0666 copy
    of one file's bytes: the probe chowned and chmodded that inode, theirs and possibly still open."""
    upload(phase)
    shared = shared_directory(dest, attacker)
    target = shared / 'a.csv'
    real_sha256_of_path = _upload_set.sha256_of_path

    def hash_then_swap(path, expected=None):
        hashed = real_sha256_of_path(path, expected=expected)
        if path == str(target):
            run_as(attacker, 'cp %s %s/x && chmod 666 %s/x && mv -f %s/x %s' % (target, shared, shared, shared, target))
        return hashed

    monkeypatch.setattr(_upload_set, 'sha256_of_path', hash_then_swap)
    with pytest.raises(HandoffError, match='replaced'):
        phase('probe', _direct=True, owner='root', mode='0644')
    st = os.lstat(target)
    assert (st.st_uid, st.st_mode & 0o7777) == (attacker.uid, 0o666), 'their inode was left as it is'
