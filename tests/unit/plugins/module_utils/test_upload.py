# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload's target side, phase by phase, with a real AnsibleModule."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _upload
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import is_temp_of
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.modules.atomic_upload import argument_spec, backend
from tests.support.hostile_user import (
    canary_file, plant_backup_names, run_as, shared_directory, swap_temp_after_copy, unchanged)
from tests.support.upload_request import upload_module_args

DATA = b'listen 80;\n'
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def dest(tmp_path):
    return tmp_path / 'site.conf'


@pytest.fixture
def upload(make_module, dest):
    """``upload(phase, check_mode=False, data=DATA, **options)``: one phase of a task publishing ``data``."""
    def run(phase, check_mode=False, data=DATA, **options):
        options.setdefault('dest', str(dest))
        module = make_module(argument_spec(), check_mode=check_mode, **upload_module_args(
            phase, _sha256=hashlib.sha256(data).hexdigest(), _size=len(data), **options))
        return backend(module).run()
    return run


def transfer_direct(upload, data=DATA, **options):
    """What the action plugin does without become: probe, write into the staging temp, publish."""
    probe = upload('probe', data=data, _direct=True, **options)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(data)
    return upload('publish', data=data, _direct=True, _staged_path=probe['staging_path'], **options)


def temps(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith('.tmp'))


def marker_of(path):
    return Marker.read(str(path) + '.done')


def test_probe_of_a_new_dest_asks_for_a_transfer_into_a_private_temp_beside_it(upload, dest):
    result = upload('probe', _direct=True)
    assert (result['changed'], result['action']) == (True, 'transfer')
    assert is_temp_of(str(dest), result['staging_path'])
    assert stat.S_IMODE(os.stat(result['staging_path']).st_mode) == 0o600
    assert not dest.exists()


def test_probe_without_direct_creates_nothing(upload, dest):
    result = upload('probe')
    assert 'staging_path' not in result
    assert os.listdir(dest.parent) == []


def test_direct_transfer_publishes_data_then_marker(upload, dest):
    result = transfer_direct(upload)
    assert (result['changed'], result['action'], result['generation']) == (True, 'transfer', 1)
    assert dest.read_bytes() == DATA
    assert marker_of(dest).describes(SHA, len(DATA))
    assert temps(dest.parent) == []


def test_new_dest_gets_0666_minus_umask_like_any_new_file(upload, dest):
    previous = os.umask(0o027)
    try:
        transfer_direct(upload)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640


def test_replaced_dest_keeps_its_mode_and_the_marker_generation_goes_up(upload, dest):
    transfer_direct(upload)
    os.chmod(dest, 0o600)
    result = transfer_direct(upload, data=b'listen 443;\n')
    assert result['generation'] == 2
    assert dest.read_bytes() == b'listen 443;\n'
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert marker_of(dest).generation == 2


def test_mode_option_applies_to_the_published_file(upload, dest):
    transfer_direct(upload, mode='0640')
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640


def test_transfer_that_does_not_match_the_checksum_touches_nothing(upload, dest):
    dest.write_bytes(b'old')
    probe = upload('probe', _direct=True)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA.upper())
    with pytest.raises(HandoffError, match='checksum mismatch after transfer.*A failed marker was written'):
        upload('publish', _direct=True, _staged_path=probe['staging_path'])
    assert dest.read_bytes() == b'old'
    assert temps(dest.parent) == []
    failed = marker_of(dest)
    assert failed.state == 'failed' and 'checksum mismatch after transfer' in failed.reason


def test_a_failed_validate_says_each_thing_in_its_own_sentence(upload, dest):
    with pytest.raises(HandoffError) as caught:
        transfer_direct(upload, validate='grep -q nginx %s')
    assert ' was not touched. A failed marker was written to %s.done, so waiting consumers fail at once.' % dest \
        in caught.value.msg


@pytest.mark.parametrize('validate, says', [
    ('/usr/sbin/lockstep-no-such-nginx -t -q -c %s', "could not run: /usr/sbin/lockstep-no-such-nginx: No such file "
                                                     "or directory. Install it on the host, or give its full path"),
    ("grep -q 'listen %s", "cannot be split into arguments (No closing quotation); fix its quoting"),
])
def test_a_validator_that_cannot_run_is_a_failed_validation(upload, dest, validate, says):
    with pytest.raises(HandoffError) as caught:
        transfer_direct(upload, validate=validate)
    assert says in caught.value.msg and 'A failed marker was written' in caught.value.msg
    assert not dest.exists() and temps(dest.parent) == []
    failed = marker_of(dest)
    assert failed.state == 'failed' and says in failed.reason


def test_check_mode_reports_a_transfer_into_a_directory_not_made_yet(upload, tmp_path):
    dest = tmp_path / 'made-by-an-earlier-task' / 'site.conf'
    result = upload('probe', check_mode=True, _direct=True, dest=str(dest), remove_temps_older_than=0)
    assert (result['changed'], result['action']) == (True, 'transfer')
    assert result['msg'].startswith('check mode: %s does not exist yet' % dest.parent)
    assert 'staging_path' not in result and os.listdir(tmp_path) == []
    with pytest.raises(HandoffError, match='its directory .* does not exist; create it first'):
        upload('probe', _direct=True, dest=str(dest))


def test_create_parents_makes_the_missing_directories_of_dest_marker_and_lock(upload, tmp_path):
    dest = tmp_path / 'a' / 'b' / 'site.conf'
    probe = upload('probe', _direct=True, dest=str(dest), create_parents=True, directory_mode='0750',
                   state_dir='.handoff', lock=True)
    assert probe['created_directories'] == [str(tmp_path / 'a'), str(tmp_path / 'a' / 'b'),
                                            str(tmp_path / 'a' / 'b' / '.handoff')]
    assert stat.S_IMODE(os.stat(str(tmp_path / 'a' / 'b' / '.handoff')).st_mode) == 0o750
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA)
    published = upload('publish', _direct=True, _staged_path=probe['staging_path'], dest=str(dest),
                       create_parents=True, state_dir='.handoff', lock=True)
    assert published['action'] == 'transfer' and 'created_directories' not in published
    assert dest.read_bytes() == DATA
    assert Marker.read(str(tmp_path / 'a' / 'b' / '.handoff' / 'site.conf.done')).describes(SHA, len(DATA))


def test_create_parents_in_check_mode_lists_the_directories_and_makes_none(upload, tmp_path):
    dest = tmp_path / 'a' / 'b' / 'site.conf'
    result = upload('probe', check_mode=True, _direct=True, dest=str(dest), create_parents=True)
    assert (result['changed'], result['action']) == (True, 'transfer')
    assert result['created_directories'] == [str(tmp_path / 'a'), str(tmp_path / 'a' / 'b')]
    assert result['msg'] == 'check mode: would create %s and %s (create_parents) and publish %s there' % (
        tmp_path / 'a', tmp_path / 'a' / 'b', dest)
    assert os.listdir(str(tmp_path)) == []


def test_create_parents_makes_nothing_through_a_symlink_another_user_planted(upload, attacker, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    victim = tmp_path / 'victim'
    victim.mkdir(mode=0o700)
    run_as(attacker, 'ln -s %s %s' % (victim, shared / 'incoming'))
    with pytest.raises(HandoffError, match='refusing to create directories through %s' % (shared / 'incoming')):
        upload('probe', _direct=True, dest=str(shared / 'incoming' / 'new' / 'site.conf'), create_parents=True)
    assert os.listdir(str(victim)) == []


def test_a_failure_leaves_no_marker_with_failure_marker_never(upload, dest):
    dest.write_bytes(b'old')
    probe = upload('probe', _direct=True)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA.upper())
    with pytest.raises(HandoffError, match='checksum mismatch after transfer') as caught:
        upload('publish', _direct=True, _staged_path=probe['staging_path'], failure_marker='never')
    assert 'marker' not in caught.value.msg
    assert marker_of(dest) is None


def test_publish_via_a_staged_copy_leaves_the_staged_file_to_its_owner(upload, dest, tmp_path):
    staged = tmp_path / 'remote-tmp-atomic_upload.src'
    staged.write_bytes(DATA)
    result = upload('publish', _staged_path=str(staged))
    assert result['changed'] is True
    assert dest.read_bytes() == DATA
    assert staged.read_bytes() == DATA
    assert temps(dest.parent) == []


def test_direct_publish_refuses_a_staged_path_that_is_not_its_temp(upload, dest, tmp_path):
    other = tmp_path / 'not-a-temp'
    other.write_bytes(DATA)
    with pytest.raises(HandoffError, match='is not a temp file of'):
        upload('publish', _direct=True, _staged_path=str(other))
    assert other.read_bytes() == DATA
    assert not dest.exists()


def test_same_data_and_marker_change_nothing(upload, dest):
    transfer_direct(upload)
    result = upload('probe', _direct=True)
    assert (result['changed'], result['action']) == (False, 'none')
    assert temps(dest.parent) == []


def test_same_data_without_marker_only_writes_the_marker(upload, dest):
    dest.write_bytes(DATA)
    inode = os.stat(dest).st_ino
    result = upload('probe', _direct=True)
    assert (result['changed'], result['action']) == (True, 'marker')
    assert marker_of(dest).describes(SHA, len(DATA))
    assert os.stat(dest).st_ino == inode


def test_check_mode_probe_writes_no_marker_and_no_temp(upload, dest):
    dest.write_bytes(DATA)
    assert upload('probe', check_mode=True, _direct=True)['action'] == 'marker'
    assert os.listdir(dest.parent) == ['site.conf']


def test_existing_dest_is_left_alone_without_force(upload, dest):
    dest.write_bytes(b'old')
    result = upload('probe', _direct=True, force=False)
    assert (result['changed'], result['action']) == (False, 'none')
    assert os.listdir(dest.parent) == ['site.conf']


def test_marker_false_publishes_without_a_marker(upload, dest):
    transfer_direct(upload, marker=False)
    assert dest.read_bytes() == DATA
    assert marker_of(dest) is None


def test_relocated_marker_is_written_where_asked(upload, dest, tmp_path):
    state_dir = tmp_path / '.handoff'
    state_dir.mkdir()
    transfer_direct(upload, marker_path=str(state_dir / 'site.conf.done'))
    assert Marker.read(str(state_dir / 'site.conf.done')).describes(SHA, len(DATA))
    assert sorted(os.listdir(dest.parent)) == ['.handoff', 'site.conf']


@pytest.mark.parametrize('absolute', [False, True])
def test_state_dir_puts_marker_and_lock_there_relative_to_dest_or_absolute(upload, dest, tmp_path, absolute):
    state_dir = tmp_path / '.handoff'
    state_dir.mkdir()
    result = transfer_direct(upload, lock=True, state_dir=str(state_dir) if absolute else '.handoff/')
    assert result['marker_path'] == str(state_dir / 'site.conf.done')
    assert Marker.read(str(state_dir / 'site.conf.done')).describes(SHA, len(DATA))
    assert sorted(os.listdir(state_dir)) == ['site.conf.done', 'site.conf.lock']
    assert sorted(os.listdir(dest.parent)) == ['.handoff', 'site.conf']


def test_marker_path_and_lock_path_win_over_state_dir(upload, dest, tmp_path):
    result = transfer_direct(upload, lock=True, state_dir='/nonexistent', marker_path=str(tmp_path / 'm.done'),
                             lock_path=str(tmp_path / 'l.lock'))
    assert result['marker_path'] == str(tmp_path / 'm.done')
    assert sorted(os.listdir(tmp_path)) == ['l.lock', 'm.done', 'site.conf']


def test_marker_path_equal_to_dest_is_refused(upload, dest):
    with pytest.raises(HandoffError, match='marker_path .* is the same path as dest'):
        upload('probe', marker_path=str(dest))


def test_failing_validate_leaves_dest_untouched_and_no_temp(upload, dest):
    dest.write_bytes(b'old')
    with pytest.raises(HandoffError, match=r'validate command .* failed \(rc=1\); dest .* was not touched'):
        transfer_direct(upload, validate='grep -q nginx %s')
    assert dest.read_bytes() == b'old'
    assert temps(dest.parent) == []


def test_passing_validate_sees_the_new_content(upload, dest):
    transfer_direct(upload, validate='grep -q "listen 80" %s')
    assert dest.read_bytes() == DATA


def test_validate_without_placeholder_is_refused(upload, dest):
    with pytest.raises(HandoffError, match='validate must contain %s'):
        transfer_direct(upload, validate='true')
    assert not dest.exists()


def test_backup_keeps_the_replaced_file(upload, dest):
    dest.write_bytes(b'old')
    result = transfer_direct(upload, backup=True)
    assert open(result['backup_file'], 'rb').read() == b'old'


def test_publish_waits_for_the_lock_and_times_out_without_touching_dest(upload, dest, hold_lock):
    dest.write_bytes(b'old')
    holder = hold_lock(str(dest) + '.lock')
    with pytest.raises(LockTimeout, match='held by pid %d' % holder.pid):
        transfer_direct(upload, lock=True, lock_timeout=0.2)
    assert dest.read_bytes() == b'old'
    assert temps(dest.parent) == []


def test_abort_removes_the_staging_temp_and_reports_free_space(upload, dest):
    staging = upload('probe', _direct=True)['staging_path']
    result = upload('abort', _staged_path=staging)
    assert (result['changed'], result['temp_removed']) == (False, True)
    assert not os.path.exists(staging)
    assert result['free_bytes'] > 0 and result['read_only'] is False


def test_abort_never_removes_a_file_that_is_not_a_temp_of_dest(upload, dest):
    dest.write_bytes(b'keep me')
    assert upload('abort', _staged_path=str(dest))['temp_removed'] is False
    assert dest.read_bytes() == b'keep me'


def test_probe_refuses_a_transfer_that_cannot_fit(make_module, tmp_path, mount_tmpfs):
    tiny = mount_tmpfs(tmp_path / 'tiny', 'size=64k')
    module = make_module(argument_spec(), **upload_module_args('probe', dest=str(tiny / 'big'), _sha256=SHA,
                                                               _size=1024 * 1024, _direct=True))
    with pytest.raises(HandoffError, match=r'the disk is full: the filesystem holding %s has \d+ bytes free and'
                       % tiny) as caught:
        backend(module).run()
    assert caught.value.details['total_bytes'] == 64 * 1024
    assert os.listdir(tiny) == ['big.done']
    assert json.loads((tiny / 'big.done').read_text())['state'] == 'failed'


def test_probe_refuses_a_read_only_destination(make_module, tmp_path, mount_tmpfs):
    frozen = mount_tmpfs(tmp_path / 'frozen', 'size=64k', 'ro')
    module = make_module(argument_spec(), **upload_module_args('probe', dest=str(frozen / 'x'), _sha256=SHA,
                                                               _size=len(DATA), _direct=True))
    with pytest.raises(HandoffError, match='is mounted read-only'):
        backend(module).run()


def test_changed_data_of_the_same_size_is_judged_by_the_marker_without_reading_dest(upload, dest):
    """A complete marker naming other bytes describes dest: the probe asks for a transfer without hashing dest.

    Shown by a marker that lies (dest already holds the new bytes): trusting it, the probe asks for
    the transfer instead of finding the data in place.
    """
    transfer_direct(upload)
    Marker.complete('ab' * 32, len(DATA), 'test', 1).write(str(dest) + '.done')
    assert upload('probe', check_mode=True)['action'] == 'transfer'


def test_marker_naming_the_new_bytes_is_checked_against_dest(upload, dest):
    """The marker may only save a read when it says "different": "same" is verified by hashing dest."""
    transfer_direct(upload)
    dest.write_bytes(b'LISTEN 80;\n')
    assert upload('probe', check_mode=True)['action'] == 'transfer'
    dest.write_bytes(DATA)
    assert upload('probe', check_mode=True)['action'] == 'none'


@pytest.fixture
def probe_before_hash(make_module, dest):
    """``probe_before_hash(data, **options)``: a probe sent while the controller still hashes ``data``."""
    def run(data=DATA, **options):
        module = make_module(argument_spec(), **upload_module_args('probe', _sha256=None, _size=len(data),
                                                                   dest=str(dest), _direct=True, **options))
        return backend(module).run()
    return run


def test_probe_before_the_hash_starts_the_transfer_when_dest_is_missing(probe_before_hash, dest):
    result = probe_before_hash()
    assert (result['changed'], result['action'], result['sha256']) == (True, 'transfer', None)
    assert is_temp_of(str(dest), result['staging_path'])


def test_probe_before_the_hash_starts_the_transfer_when_dest_has_another_size(upload, probe_before_hash, dest):
    transfer_direct(upload, data=b'old\n')
    result = probe_before_hash()
    assert (result['changed'], result['action']) == (True, 'transfer')
    assert dest.read_bytes() == b'old\n'


def test_probe_before_the_hash_asks_for_it_when_dest_has_the_same_size(upload, probe_before_hash, dest):
    transfer_direct(upload)
    result = probe_before_hash()
    assert (result['changed'], result['action']) == (False, 'need_checksum')
    assert temps(dest.parent) == [], 'no temp until the transfer is decided'
    assert upload('probe', _direct=True)['action'] == 'none', 'with the checksum the probe decides'


def test_probe_before_the_hash_leaves_an_existing_dest_alone_without_force(upload, probe_before_hash, dest):
    transfer_direct(upload)
    result = probe_before_hash(force=False)
    assert (result['changed'], result['action']) == (False, 'none')


def test_publish_needs_the_checksum(make_module, dest):
    request = dict(phase='publish', sha256=None, size=3, producer='test', host=None, direct=True,
                   staged_path=str(dest.parent / '.site.conf.0123456789ab.tmp'))
    module = make_module(argument_spec(), dest=str(dest), _request=request)
    with pytest.raises(HandoffError, match='field sha256 must be a string; got None'):
        backend(module).run()


def test_direct_transfer_into_a_directory_others_can_write_is_not_offered(attacker, upload, tmp_path):
    """Attack 1: the controller writes the probe's temp by name (sftp/copy follow a symlink swapped in there).

    As the controller would: write the offered temp by name right after the
    attacker swapped it for a link to a root-only file; else stage privately.
    """
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    dest = shared / 'site.conf'
    probe = upload('probe', dest=str(dest), _direct=True)
    if probe.get('staging_path'):
        temp = probe['staging_path']
        run_as(attacker, 'mv %s %s/stolen && ln -s %s %s' % (temp, shared, canary, temp))
        with open(probe['staging_path'], 'wb') as handle:
            handle.write(DATA)
        with pytest.raises(HandoffError):
            upload('publish', dest=str(dest), _direct=True, _staged_path=probe['staging_path'])
    else:
        assert probe['transfer_path'] == 'staged'
        assert 'writable by its group' in probe['direct_transfer_refused']
        staged = tmp_path / 'private-tmp' / 'atomic_upload.src'
        staged.parent.mkdir()
        staged.write_bytes(DATA)
        result = upload('publish', dest=str(dest), _staged_path=str(staged))
        assert result['transfer_path'] == 'staged'
        assert dest.read_bytes() == DATA
    assert unchanged(canary)


def test_direct_transfer_is_offered_where_only_this_user_and_root_can_write(upload, dest):
    assert upload('probe', _direct=True)['transfer_path'] == 'direct'
    assert transfer_direct(upload)['transfer_path'] == 'direct'


def test_a_direct_temp_replaced_by_another_users_file_is_refused(attacker, upload, dest):
    probe = upload('probe', _direct=True)
    os.chown(probe['staging_path'], attacker.uid, attacker.gid)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA)
    with pytest.raises(HandoffError, match='not the one the probe created'):
        upload('publish', _direct=True, _staged_path=probe['staging_path'])
    assert not dest.exists()


def test_a_direct_temp_with_a_second_link_is_refused(upload, dest, tmp_path):
    probe = upload('probe', _direct=True)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA)
    os.link(probe['staging_path'], tmp_path / 'second-name')
    with pytest.raises(HandoffError, match='2 links'):
        upload('publish', _direct=True, _staged_path=probe['staging_path'])
    assert not dest.exists()


def test_a_direct_temp_swapped_for_a_symlink_is_refused(upload, dest, tmp_path):
    probe = upload('probe', _direct=True)
    os.unlink(probe['staging_path'])
    (tmp_path / 'elsewhere').write_bytes(DATA)
    os.symlink(tmp_path / 'elsewhere', probe['staging_path'])
    with pytest.raises(HandoffError, match='symlink'):
        upload('publish', _direct=True, _staged_path=probe['staging_path'])
    assert not dest.exists()


def test_a_staged_source_swapped_for_a_symlink_is_refused(upload, dest, tmp_path):
    (tmp_path / 'elsewhere').write_bytes(DATA)
    (tmp_path / 'atomic_upload.src').symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(HandoffError, match='symlink'):
        upload('publish', _staged_path=str(tmp_path / 'atomic_upload.src'))
    assert not dest.exists()


def test_temp_swapped_for_a_symlink_before_attributes_changes_no_other_file(attacker, upload, tmp_path, monkeypatch):
    """Attack 2 (become, staged): right after the copy the attacker swaps the temp for a link to a root-only
    file; chmod/chown by name would make it 0666 and theirs, and the rename would publish the link."""
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    dest = shared / 'site.conf'
    staged = tmp_path / 'atomic_upload.src'
    staged.write_bytes(DATA)
    swap_temp_after_copy(monkeypatch, _upload, shared, attacker, canary)
    with pytest.raises(HandoffError, match='replaced by another file'):
        upload('publish', dest=str(dest), _staged_path=str(staged), mode='0666', owner=attacker.name)
    assert unchanged(canary)
    assert not os.path.lexists(dest)


@pytest.mark.parametrize('content', [DATA, b'planted by another user\n'])
def test_dest_planted_by_another_user_in_a_sticky_directory_is_replaced_by_roots_file(
        attacker, upload, tmp_path, content):
    sticky = tmp_path / 'sticky'
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    dest = sticky / 'secret'
    dest.write_bytes(content)
    os.chown(dest, attacker.uid, attacker.gid)
    os.chmod(dest, 0o666)
    result = transfer_direct(upload, dest=str(dest), mode='0600')
    assert result['changed'] is True
    st = os.lstat(dest)
    assert (st.st_uid, stat.S_IMODE(st.st_mode), dest.read_bytes()) == (0, 0o600, DATA)


def test_dest_of_another_user_lends_no_mode(attacker, upload, dest):
    dest.write_bytes(b'old')
    os.chown(dest, attacker.uid, attacker.gid)
    os.chmod(dest, 0o666)
    previous = os.umask(0o077)
    try:
        transfer_direct(upload)
    finally:
        os.umask(previous)
    st = os.lstat(dest)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)


def test_marker_of_a_0600_secret_is_0600(upload, dest):
    transfer_direct(upload, mode='0600')
    assert stat.S_IMODE(os.stat(str(dest) + '.done').st_mode) == 0o600


def test_marker_takes_the_data_owner(as_root, upload, dest):
    transfer_direct(upload, mode='0640', owner='nobody', group='65534')
    st = os.stat(str(dest) + '.done')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)


def test_marker_written_for_data_already_in_place_takes_its_mode(upload, dest):
    transfer_direct(upload, mode='0600')
    os.unlink(str(dest) + '.done')
    assert upload('probe', mode='0600')['action'] == 'marker'
    assert stat.S_IMODE(os.stat(str(dest) + '.done').st_mode) == 0o600


def test_failed_marker_is_no_wider_than_the_task_mode(upload, dest):
    probe = upload('probe', _direct=True)
    with open(probe['staging_path'], 'r+b') as handle:
        handle.write(DATA.upper())
    with pytest.raises(HandoffError, match='checksum mismatch'):
        upload('publish', _direct=True, _staged_path=probe['staging_path'], mode='0600')
    assert marker_of(dest).state == 'failed'
    assert stat.S_IMODE(os.stat(str(dest) + '.done').st_mode) == 0o600


def test_validate_reads_the_file_held_even_when_its_name_was_swapped(attacker, upload, tmp_path, monkeypatch):
    """validate runs by name; in a shared directory it must not be made to read a root-only file."""
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    staged = tmp_path / 'atomic_upload.src'
    staged.write_bytes(DATA)
    seen = tmp_path / 'seen-by-validate'
    swap_temp_after_copy(monkeypatch, _upload, shared, attacker, canary)
    with pytest.raises(HandoffError, match='replaced by another file'):
        upload('publish', dest=str(shared / 'site.conf'), _staged_path=str(staged), validate='cp %%s %s' % seen)
    assert seen.read_bytes() == DATA
    assert unchanged(canary)


@pytest.mark.parametrize('lock_path', ['{dest}', '{dest}.done', '{dir}/.site.conf.0123456789ab.tmp',
                                       '{dir}/.site.conf.done.0123456789ab.tmp'])
def test_a_lock_path_that_is_dest_its_marker_or_one_of_their_temps_is_refused_before_anything(
        upload, dest, lock_path):
    dest.write_bytes(b'old')
    dest.chmod(0o600)
    path = lock_path.format(dest=dest, dir=dest.parent)
    with pytest.raises(HandoffError, match='(are the same path|is named like a temp file of)'):
        transfer_direct(upload, lock=True, lock_path=path)
    assert dest.read_bytes() == b'old' and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(os.listdir(dest.parent)) == ['site.conf']


def test_a_dest_whose_marker_temp_would_be_too_long_is_refused_before_the_data_is_published(make_module, tmp_path):
    limit = os.pathconf(str(tmp_path), 'PC_NAME_MAX')
    dest = tmp_path / ('n' * (limit - 22))  # NAME fits, .NAME.<hex>.tmp fits, .NAME.done.<hex>.tmp does not
    module = make_module(argument_spec(), **upload_module_args('probe', _sha256=SHA, _size=len(DATA), dest=str(dest),
                                                               _direct=True))
    with pytest.raises(HandoffError) as caught:
        backend(module).run()
    assert caught.value.msg.startswith('marker_path %s.done: the name .%s.done.<12 hex>.tmp of the temp file of '
                                       'marker_path is %d bytes' % (dest, dest.name, limit + 1))
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize('option', ['dest', 'marker_path', 'lock_path'])
def test_relative_paths_are_refused(upload, dest, option):
    options = {'dest': str(dest), 'lock': True, option: 'relative/site.conf'}
    with pytest.raises(HandoffError, match='^%s relative/site.conf is a relative path' % option):
        upload('probe', **options)


@pytest.mark.parametrize('option, value', [('lock_timeout', float('nan')), ('lock_timeout', float('inf')),
                                           ('remove_temps_older_than', float('nan')),
                                           ('lock_lease_ttl', float('inf'))])
def test_non_finite_numbers_are_refused(upload, dest, option, value):
    with pytest.raises(HandoffError, match='^%s is %s; it must be' % (option, value)):
        upload('probe', lock=True, **{option: value})
    assert not dest.exists()


def test_a_planted_backup_name_fails_the_upload_and_keeps_dest_and_the_root_only_file(attacker, upload, tmp_path):
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    dest = shared / 'site.conf'
    dest.write_bytes(b'old')
    plant_backup_names(attacker, shared, 'site.conf', canary)
    staged = tmp_path / 'staged'
    staged.write_bytes(DATA)
    with pytest.raises(HandoffError, match='backup name'):
        upload('publish', dest=str(dest), _staged_path=str(staged), backup=True)
    assert unchanged(canary)
    assert dest.read_bytes() == b'old'
