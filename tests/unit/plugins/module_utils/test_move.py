# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""locked_move's target side with a real AnsibleModule: under the lock, exactly once, never a partial dest."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _move
from ansible_collections.lockstep.handoff.plugins.modules import locked_move
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import create_temp_beside
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_FAILED, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove
from tests.support.hostile_user import (
    canary_file, plant_backup_names, run_as, shared_directory, swap_temp_after_copy, unchanged)

DATA = b'release 42\n' * 100
SHA = hashlib.sha256(DATA).hexdigest()
FORK = multiprocessing.get_context('fork')


@pytest.fixture
def inbox(tmp_path):
    path = tmp_path / 'in'
    path.mkdir()
    return path


@pytest.fixture
def outbox(tmp_path):
    path = tmp_path / 'out'
    path.mkdir()
    return path


@pytest.fixture
def mover(make_module):
    """``mover(src, dest, check_mode=False, **options)``: a Move with a real module."""
    def make(src, dest, check_mode=False, **options):
        return LockedMove(make_module(locked_move.argument_spec(), check_mode=check_mode, src=str(src), dest=str(dest), **options))
    return make


def produce(directory, name='x.tar', data=DATA):
    """Publish ``data`` as ``directory/name`` with a complete marker, as a producer would."""
    src = directory / name
    src.write_bytes(data)
    Marker.complete(hashlib.sha256(data).hexdigest(), len(data), 'test', 1).write(str(src) + '.done')
    return src


def marker_of(path):
    return path.parent / (path.name + '.done')


def test_move_renames_the_data_then_removes_its_marker(mover, inbox, outbox):
    src = produce(inbox)
    dest = outbox / 'x.tar'
    inode = os.stat(src).st_ino
    result = mover(src, dest).run()
    assert {key: result[key] for key in ('changed', 'cross_device', 'sha256', 'size', 'lock_path')} == dict(
        changed=True, cross_device=False, sha256=SHA, size=len(DATA), lock_path=str(dest) + '.lock')
    assert result['msg'] == 'moved %s to %s' % (src, dest)
    assert result['marker']['sha256'] == SHA
    assert dest.read_bytes() == DATA
    assert os.stat(dest).st_ino == inode
    assert not src.exists() and not marker_of(src).exists()
    assert (outbox / 'x.tar.lock').exists()


def test_state_dir_finds_the_marker_and_puts_lock_and_moved_marker_in_the_state_dirs(mover, inbox, outbox):
    (inbox / '.handoff').mkdir()
    (outbox / '.handoff').mkdir()
    src = inbox / 'x.tar'
    src.write_bytes(DATA)
    Marker.complete(SHA, len(DATA), 'test', 1).write(str(inbox / '.handoff' / 'x.tar.done'))
    result = mover(src, outbox / 'x.tar', state_dir='.handoff', marker='move').run()
    assert result['changed'] and result['lock_path'] == str(outbox / '.handoff' / 'x.tar.lock')
    assert sorted(os.listdir(inbox / '.handoff')) == []
    assert sorted(os.listdir(outbox / '.handoff')) == ['x.tar.done', 'x.tar.lock']
    assert sorted(os.listdir(outbox)) == ['.handoff', 'x.tar']


def test_an_inbox_with_an_absolute_state_dir_moves_each_file_by_its_marker_there(mover, inbox, outbox, tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    for name in ('a', 'b'):
        (inbox / name).write_bytes(DATA)
        Marker.complete(SHA, len(DATA), 'test', 1).write(str(state / (name + '.done')))
    (inbox / 'c').write_bytes(DATA)
    result = mover(inbox, outbox, state_dir=str(state)).run()
    assert sorted(os.listdir(outbox)) == ['a', 'b']
    assert sorted(os.listdir(state)) == ['a.lock', 'b.lock', 'c.lock']  # c is judged (not ready) under its lock
    assert sorted(os.listdir(inbox)) == ['c'] and result['changed']


def test_second_run_finds_the_move_done_and_changes_nothing(mover, inbox, outbox):
    src = produce(inbox)
    mover(src, outbox / 'x.tar').run()
    result = mover(src, outbox / 'x.tar').run()
    assert result['changed'] is False
    assert result['msg'] == 'already moved: %s is absent and %s is in place' % (src, outbox / 'x.tar')
    assert (outbox / 'x.tar').read_bytes() == DATA


def test_a_planted_backup_name_fails_the_move_and_keeps_src_dest_and_the_root_only_file(attacker, mover, inbox, tmp_path):
    src = produce(inbox)
    shared = shared_directory(tmp_path / 'shared', attacker)
    canary = canary_file(tmp_path / 'canary')
    (shared / 'x.tar').write_bytes(b'older')
    plant_backup_names(attacker, shared, 'x.tar', canary)
    with pytest.raises(HandoffError, match='backup name'):
        mover(src, shared / 'x.tar', backup=True).run()
    assert unchanged(canary)
    assert (shared / 'x.tar').read_bytes() == b'older'
    assert src.read_bytes() == DATA


def test_a_partial_copy_left_beside_dest_is_reported_and_kept(mover, inbox, outbox):
    """What a consumer SIGKILLed mid cross-device copy leaves: a temp beside dest. The next run
    names it (it may be a live upload's, so it is not removed)."""
    src = produce(inbox)
    temp = create_temp_beside(str(outbox / 'x.tar'))
    with open(temp, 'r+b') as handle:
        handle.write(DATA[:10])
    result = mover(src, outbox / 'x.tar').run()
    assert result['changed'] is True and result['leftover_temps'] == [temp]
    assert os.path.exists(temp)
    assert 'leftover_temps' not in mover(produce(inbox, 'z.tar'), outbox / 'z.tar').run()


def test_interrupted_move_with_the_marker_left_behind_is_completed(mover, inbox, outbox):
    src = produce(inbox)
    os.rename(src, outbox / 'x.tar')
    result = mover(src, outbox / 'x.tar').run()
    assert result['changed'] is True
    assert result['msg'].startswith('completed an interrupted move')
    assert not marker_of(src).exists()


def test_marker_move_puts_the_same_marker_beside_dest(mover, inbox, outbox):
    src = produce(inbox)
    marker = marker_of(src).read_bytes()
    mover(src, outbox / 'x.tar', marker='move').run()
    assert (outbox / 'x.tar.done').read_bytes() == marker
    assert not marker_of(src).exists()


def test_marker_keep_leaves_the_marker_in_place(mover, inbox, outbox):
    src = produce(inbox)
    mover(src, outbox / 'x.tar', marker='keep').run()
    assert marker_of(src).exists()
    assert not (outbox / 'x.tar.done').exists()


def test_unmarked_source_is_not_moved(mover, inbox, outbox):
    src = inbox / 'x.tar'
    src.write_bytes(DATA)
    with pytest.raises(HandoffError, match='Wait for it first with lockstep.handoff.wait_for_marker'):
        mover(src, outbox / 'x.tar').run()
    assert src.read_bytes() == DATA
    assert not (outbox / 'x.tar').exists()


def test_unmarked_source_moves_when_no_marker_is_required(mover, inbox, outbox):
    src = inbox / 'x.tar'
    src.write_bytes(DATA)
    result = mover(src, outbox / 'x.tar', require_marker=False).run()
    assert (result['changed'], result['sha256'], result['marker']) == (True, SHA, None)
    assert (outbox / 'x.tar').read_bytes() == DATA


def test_failed_marker_stops_the_move_with_the_producer_reason(mover, inbox, outbox):
    src = inbox / 'x.tar'
    src.write_bytes(DATA)
    Marker(STATE_FAILED, reason='sender crashed').write(str(marker_of(src)))
    with pytest.raises(HandoffError, match='not moving .*: the producer marked .* failed: sender crashed') as caught:
        mover(src, outbox / 'x.tar').run()
    assert caught.value.details['marker']['state'] == 'failed'
    assert src.exists() and not (outbox / 'x.tar').exists()


def test_data_changed_after_marking_is_not_moved(mover, inbox, outbox):
    src = produce(inbox)
    src.write_bytes(DATA.upper())
    with pytest.raises(HandoffError, match='checksum mismatch'):
        mover(src, outbox / 'x.tar').run()
    assert src.read_bytes() == DATA.upper()
    assert not (outbox / 'x.tar').exists()


def test_lock_held_by_flock1_stops_the_move_naming_the_holder(mover, inbox, outbox, hold_lock):
    src = produce(inbox)
    holder = hold_lock(outbox / 'x.tar.lock')
    with pytest.raises(LockTimeout, match=r'held by pid %d \(' % holder.pid):
        mover(src, outbox / 'x.tar', lock_timeout=0.2).run()
    assert src.exists() and not (outbox / 'x.tar').exists()


def test_check_mode_moves_nothing_and_takes_no_lock(mover, inbox, outbox):
    src = produce(inbox)
    result = mover(src, outbox / 'x.tar', check_mode=True).run()
    assert (result['changed'], result['lock_wait']) == (True, 0.0)
    assert result['msg'] == 'would move %s to %s' % (src, outbox / 'x.tar')
    assert sorted(os.listdir(outbox)) == []
    assert src.exists() and marker_of(src).exists()


def test_existing_dest_is_kept_without_force(mover, inbox, outbox):
    src = produce(inbox)
    (outbox / 'x.tar').write_bytes(b'older')
    result = mover(src, outbox / 'x.tar', force=False).run()
    assert result['changed'] is False
    assert (outbox / 'x.tar').read_bytes() == b'older'
    assert src.exists()


def test_backup_keeps_the_replaced_dest(mover, inbox, outbox):
    src = produce(inbox)
    (outbox / 'x.tar').write_bytes(b'older')
    result = mover(src, outbox / 'x.tar', backup=True).run()
    assert open(result['backup_file'], 'rb').read() == b'older'
    assert (outbox / 'x.tar').read_bytes() == DATA


def test_mode_option_is_applied_to_the_moved_file(mover, inbox, outbox):
    src = produce(inbox)
    mover(src, outbox / 'x.tar', mode='0640').run()
    assert stat.S_IMODE(os.stat(outbox / 'x.tar').st_mode) == 0o640


def test_nothing_to_move_is_an_error_naming_both_paths(mover, inbox, outbox):
    with pytest.raises(HandoffError, match='src %s does not exist, and dest %s does not either'
                       % (inbox / 'x.tar', outbox / 'x.tar')):
        mover(inbox / 'x.tar', outbox / 'x.tar').run()


def test_symlink_source_is_refused(mover, inbox, outbox):
    real = produce(inbox, name='real.tar')
    link = inbox / 'x.tar'
    link.symlink_to(real)
    with pytest.raises(HandoffError, match='is not a regular file'):
        mover(link, outbox / 'x.tar', require_marker=False).run()
    assert real.exists() and link.is_symlink()


def test_lock_path_equal_to_src_is_refused(mover, inbox, outbox):
    src = produce(inbox)
    with pytest.raises(HandoffError, match='src and lock_path are the same path'):
        mover(src, outbox / 'x.tar', lock_path=str(src)).run()


def test_missing_dest_directory_is_an_error_unless_create_parents(mover, inbox, tmp_path):
    src = produce(inbox)
    dest = tmp_path / 'new' / 'dir' / 'x.tar'
    with pytest.raises(HandoffError, match='create it first or set create_parents=true'):
        mover(src, dest).run()
    assert mover(src, dest, create_parents=True).run()['changed'] is True
    assert dest.read_bytes() == DATA


def test_create_parents_makes_nothing_through_a_symlink_another_user_planted(mover, inbox, attacker, tmp_path):
    src = produce(inbox)
    shared = shared_directory(tmp_path / 'shared', attacker)
    victim = tmp_path / 'victim'
    victim.mkdir(mode=0o700)
    run_as(attacker, 'ln -s %s %s' % (victim, shared / 'out'))
    with pytest.raises(HandoffError, match='refusing to create directories through %s' % (shared / 'out')):
        mover(src, shared / 'out' / 'new' / 'x.tar', create_parents=True).run()
    assert os.listdir(str(victim)) == [] and src.read_bytes() == DATA


def _consume(move, start):
    start.wait(10)
    sys.exit(10 if move.run()['changed'] else 11)


def test_two_consumers_racing_move_the_file_exactly_once(mover, inbox, outbox):
    src = produce(inbox)
    moves = [mover(src, outbox / 'x.tar') for dummy in range(2)]
    start = FORK.Event()
    procs = [FORK.Process(target=_consume, args=(move, start)) for move in moves]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(30)
    assert sorted(proc.exitcode for proc in procs) == [10, 11]
    assert (outbox / 'x.tar').read_bytes() == DATA
    assert not src.exists() and not marker_of(src).exists()


@pytest.fixture
def other_filesystem(tmp_path, mount_tmpfs):
    return mount_tmpfs(tmp_path / 'other-fs', 'size=1m')


def test_move_across_filesystems_copies_then_removes_the_source(mover, inbox, other_filesystem):
    src = produce(inbox)
    os.chmod(src, 0o640)
    dest = other_filesystem / 'x.tar'
    result = mover(src, dest).run()
    assert (result['changed'], result['cross_device'], result['sha256']) == (True, True, SHA)
    assert dest.read_bytes() == DATA
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640
    assert not src.exists() and not marker_of(src).exists()
    assert sorted(os.listdir(other_filesystem)) == ['x.tar', 'x.tar.lock']


def test_move_across_filesystems_refuses_data_that_does_not_match_its_marker(mover, inbox, other_filesystem):
    src = produce(inbox)
    src.write_bytes(DATA.upper())
    with pytest.raises(HandoffError, match='checksum mismatch copying .*nothing was moved'):
        mover(src, other_filesystem / 'x.tar').run()
    assert src.read_bytes() == DATA.upper() and marker_of(src).exists()
    assert sorted(os.listdir(other_filesystem)) == ['x.tar.lock']


@pytest.fixture
def shared_inbox(attacker, tmp_path):
    return shared_directory(tmp_path / 'shared-in', attacker)


def attackers_source(inbox, attacker, mode):
    """A marked file the attacker produced, with ``mode`` (they may give their own file any mode)."""
    src = produce(inbox)
    os.chown(src, attacker.uid, attacker.gid)
    os.chmod(src, mode)
    return src


def test_move_across_filesystems_never_copies_setuid_setgid_or_sticky_bits(attacker, mover, shared_inbox,
                                                                           other_filesystem):
    src = attackers_source(shared_inbox, attacker, 0o7777)
    mover(src, other_filesystem / 'x.tar').run()
    st = os.stat(other_filesystem / 'x.tar')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o777)


def test_a_source_given_to_another_owner_is_copied_so_its_producer_keeps_no_handle_on_dest(attacker, mover,
                                                                                           shared_inbox, outbox):
    """The group member who produced src held it open for writing; the move renamed that inode into root's
    directory and chowned it to root, and the producer then wrote through its descriptor into a root-owned
    dest whose checksum had been verified."""
    src = attackers_source(shared_inbox, attacker, 0o644)
    os.chown(marker_of(src), attacker.uid, attacker.gid)
    holder = subprocess.Popen(['su', attacker.name, '-s', '/bin/sh', '-c',
                               'exec 3<>%s; echo open; read dummy; printf EVIL >&3' % src],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'open\n'
        result = mover(src, outbox / 'x.tar', owner='root', group='root', mode='0644').run()
    finally:
        holder.communicate('go\n', timeout=30)
    assert (result['changed'], result['cross_device'], result['sha256']) == (True, False, SHA)
    st = os.lstat(outbox / 'x.tar')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    assert (outbox / 'x.tar').read_bytes() == DATA
    assert not os.path.lexists(src)


def test_copy_temp_swapped_for_a_symlink_makes_no_root_file_setuid(attacker, mover, shared_inbox, other_filesystem,
                                                                   tmp_path, monkeypatch):
    """Attack 3: right after the cross-device copy the attacker swaps the temp for a link to a root-only
    file; a chmod by name to the 4777 source mode would make that file setuid root and world-writable."""
    os.chown(other_filesystem, 0, attacker.gid)
    os.chmod(other_filesystem, 0o2775)
    canary = canary_file(tmp_path / 'canary')
    src = attackers_source(shared_inbox, attacker, 0o4777)
    swap_temp_after_copy(monkeypatch, _move, other_filesystem, attacker, canary)
    with pytest.raises(HandoffError, match='replaced by another file'):
        mover(src, other_filesystem / 'x.tar').run()
    assert unchanged(canary)
    assert not os.path.lexists(other_filesystem / 'x.tar')
    assert src.read_bytes() == DATA


def _judge_then(monkeypatch, action):
    """Run ``action()`` right after the mover judged src and its marker under the lock."""
    real_observe = _move.observe

    def observe_then_act(*args, **kwargs):
        seen = real_observe(*args, **kwargs)
        action()
        return seen

    monkeypatch.setattr(_move, 'observe', observe_then_act)


def test_marker_swapped_for_a_symlink_after_it_was_judged_is_not_copied(attacker, mover, shared_inbox, outbox,
                                                                        tmp_path, monkeypatch):
    """Attack 4: marker=move used to open the marker by name (following a link) and copy it 0644 beside dest."""
    canary = canary_file(tmp_path / 'canary')
    src = produce(shared_inbox)
    marker = marker_of(src)
    _judge_then(monkeypatch, lambda: run_as(attacker, 'rm -f %s && ln -s %s %s' % (marker, canary, marker)))
    with pytest.raises(HandoffError, match='symlink'):
        mover(src, outbox / 'x.tar', marker='move').run()
    assert unchanged(canary)
    assert not os.path.lexists(outbox / 'x.tar.done')


def test_marker_swapped_for_a_fifo_after_it_was_judged_fails_at_once(attacker, mover, shared_inbox, outbox,
                                                                     monkeypatch, fails_instead_of_hanging):
    src = produce(shared_inbox)
    marker = marker_of(src)
    _judge_then(monkeypatch, lambda: run_as(attacker, 'rm -f %s && mkfifo %s' % (marker, marker)))
    with pytest.raises(HandoffError, match='not a regular file'):
        mover(src, outbox / 'x.tar', marker='move').run()
    assert not os.path.lexists(outbox / 'x.tar.done')


def test_another_users_copy_of_the_marker_is_rewritten_beside_dest_not_renamed_there(
        attacker, mover, shared_inbox, outbox, monkeypatch):
    """Found by the adversarial suite: a group member swapped in its own 0666 copy of the marker after the
    judgement, and marker=move renamed that inode, theirs and writable by them, into dest's directory."""
    src = produce(shared_inbox)
    marker = marker_of(src)
    raw = marker.read_bytes()
    _judge_then(monkeypatch, lambda: run_as(attacker, 'cp %s %s.x && chmod 666 %s.x && mv -f %s.x %s'
                                            % (marker, marker, marker, marker, marker)))
    mover(src, outbox / 'x.tar', marker='move').run()
    moved = os.lstat(outbox / 'x.tar.done')
    data = os.lstat(outbox / 'x.tar')
    assert (outbox / 'x.tar.done').read_bytes() == raw
    assert (moved.st_uid, moved.st_gid) == (data.st_uid, data.st_gid) != (attacker.uid, attacker.gid)
    assert stat.S_IMODE(moved.st_mode) == stat.S_IMODE(data.st_mode) & 0o666
    assert not os.path.lexists(marker)


def test_marker_rewritten_after_it_was_judged_is_not_moved(mover, inbox, outbox, monkeypatch):
    src = produce(inbox)
    other = Marker.complete('0' * 64, 3, 'someone else', 7)
    _judge_then(monkeypatch, lambda: other.write(str(marker_of(src))))
    with pytest.raises(HandoffError, match='no longer describes'):
        mover(src, outbox / 'x.tar', marker='move').run()
    assert not os.path.lexists(outbox / 'x.tar.done')


def test_source_swapped_for_a_fifo_after_it_was_judged_fails_without_hanging(
        mover, inbox, outbox, monkeypatch, fails_instead_of_hanging):
    """A FIFO swapped in for the data made the mover block for ever while holding the lock."""
    src = inbox / 'x.tar'
    src.write_bytes(DATA)
    real_judge = _move.Move._judge_source

    def judge_then_swap(self, verify_here):
        seen = real_judge(self, verify_here)
        os.unlink(src)
        os.mkfifo(src)
        return seen

    monkeypatch.setattr(_move.Move, '_judge_source', judge_then_swap)
    with pytest.raises(HandoffError, match='not a regular file'):
        mover(src, outbox / 'x.tar', require_marker=False).run()
    assert not os.path.lexists(outbox / 'x.tar')


def test_source_swapped_after_it_was_judged_is_not_moved(mover, inbox, outbox, monkeypatch):
    src = produce(inbox)

    def swap():
        (inbox / 'other').write_bytes(b'unverified bytes')
        os.rename(inbox / 'other', src)

    _judge_then(monkeypatch, swap)
    with pytest.raises(HandoffError, match='replaced by another file'):
        mover(src, outbox / 'x.tar').run()
    assert not os.path.lexists(outbox / 'x.tar')


def test_marker_moved_within_a_filesystem_is_renamed(mover, inbox, outbox):
    src = produce(inbox)
    inode = os.stat(marker_of(src)).st_ino
    mover(src, outbox / 'x.tar', marker='move').run()
    assert os.stat(outbox / 'x.tar.done').st_ino == inode


def test_marker_moved_across_filesystems_is_no_wider_than_its_data(mover, inbox, other_filesystem):
    src = produce(inbox)
    os.chmod(src, 0o600)
    marker = marker_of(src).read_bytes()
    mover(src, other_filesystem / 'x.tar', marker='move').run()
    assert (other_filesystem / 'x.tar.done').read_bytes() == marker
    assert stat.S_IMODE(os.stat(other_filesystem / 'x.tar.done').st_mode) == 0o600


def test_marker_path_equal_to_lock_path_is_refused(mover, inbox, outbox):
    src = produce(inbox)
    with pytest.raises(HandoffError, match='^not moving .*: marker_path and lock_path are the same path'):
        mover(src, outbox / 'x.tar', lock_path=str(marker_of(src))).run()
    assert marker_of(src).read_bytes().startswith(b'{')


@pytest.mark.parametrize('option, name', [('lock_path', '.x.tar.0123456789ab.tmp'),
                                          ('dest_marker_path', 'x.tar.lock')])
def test_protocol_temps_and_locks_of_dest_cannot_be_chosen_as_other_files(mover, inbox, outbox, option, name):
    src = produce(inbox)
    with pytest.raises(HandoffError, match='(is named like a temp file of dest|are the same path)'):
        mover(src, outbox / 'x.tar', marker='move', **{option: str(outbox / name)}).run()
    assert src.exists() and os.listdir(str(outbox)) == []


@pytest.mark.parametrize('option', ['src', 'dest', 'marker_path', 'dest_marker_path', 'lock_path'])
def test_relative_paths_are_refused(mover, inbox, outbox, option):
    src = produce(inbox)
    options = {'src': src, 'dest': outbox / 'x.tar', 'marker': 'move', option: 'x.tar'}
    with pytest.raises(HandoffError, match='^not moving .*: %s x.tar is a relative path' % option):
        mover(options.pop('src'), options.pop('dest'), **options).run()


def test_a_dest_marker_too_long_for_the_filesystem_is_refused_before_the_data_moves(mover, inbox, outbox):
    limit = os.pathconf(str(outbox), 'PC_NAME_MAX')
    name = 'n' * (limit - 22)  # src, dest and the temp of a copy fit; the temp of dest's marker does not
    src = inbox / name
    src.write_bytes(DATA)
    with pytest.raises(HandoffError, match='^not moving .*: dest_marker_path .*: the name .*.done.<12 hex>.tmp of the temp file of '
                                           'dest_marker_path is %d bytes.*NAME_MAX' % (limit + 1)):
        mover(src, outbox / name, marker='move', require_marker=False).run()
    assert src.exists() and os.listdir(str(outbox)) == []


@pytest.mark.parametrize('value', [float('nan'), float('inf'), 1e12])
def test_absurd_lock_timeouts_are_refused(mover, inbox, outbox, value):
    src = produce(inbox)
    with pytest.raises(HandoffError, match='^lock_timeout is %s; it must be 0' % value):
        mover(src, outbox / 'x.tar', lock_timeout=value).run()


def test_check_mode_reports_a_source_not_published_yet(mover, inbox, tmp_path):
    dest = tmp_path / 'not-made-yet' / 'x.tar'
    result = mover(inbox / 'x.tar', dest, check_mode=True).run()
    assert not result['changed'] and result['lock_wait'] == 0.0
    assert result['msg'] == ('check mode looks once: neither src %s nor dest %s exists; a real run moves it once its '
                             'producer has published it' % (inbox / 'x.tar', dest))
    with pytest.raises(HandoffError, match='its directory .* does not exist; create it first'):
        mover(inbox / 'x.tar', dest).run()


def test_check_mode_reports_a_source_not_marked_yet(mover, inbox, outbox):
    (inbox / 'x.tar').write_bytes(DATA)
    result = mover(inbox / 'x.tar', outbox / 'x.tar', check_mode=True).run()
    assert not result['changed'] and result['msg'].startswith('check mode looks once: data file %s exists but' % (inbox / 'x.tar'))
    assert sorted(os.listdir(inbox)) == ['x.tar'] and os.listdir(outbox) == []


def test_check_mode_moves_nothing_into_a_directory_not_made_yet(mover, inbox, tmp_path):
    src = produce(inbox)
    dest = tmp_path / 'made-by-an-earlier-task' / 'x.tar'
    result = mover(src, dest, check_mode=True).run()
    assert result['changed'] and result['msg'] == 'would move %s to %s' % (src, dest)
    assert not dest.parent.exists()
    drained = mover(inbox, tmp_path / 'drained', check_mode=True).run()
    assert drained['changed'] and drained['msg'].startswith('would move 1 file(s)')
    assert not (tmp_path / 'drained').exists() and sorted(os.listdir(inbox)) == ['x.tar', 'x.tar.done']


def test_check_mode_still_fails_on_a_producer_that_failed(mover, inbox, outbox):
    (inbox / 'x.tar').write_bytes(DATA)
    Marker.failed('disk full', 'test', 1).write(str(inbox / 'x.tar.done'))
    with pytest.raises(HandoffError, match='disk full'):
        mover(inbox / 'x.tar', outbox / 'x.tar', check_mode=True).run()


@pytest.mark.parametrize('create_parents', [False, True])
def test_a_deeper_state_dir_whose_first_directory_was_swapped_for_a_symlink_writes_nothing_there(
        attacker, mover, shared_inbox, tmp_path, create_parents):
    """``state_dir: .h/s``: a group member of dest's directory replaced ``.h`` with a link to a root-only
    directory. Only the last component was opened without following a link, so the lock file and the moved
    marker were made in root's directory (and with create_parents, ``s`` too)."""
    outbox = shared_directory(tmp_path / 'shared-out', attacker)
    (shared_inbox / '.h' / 's').mkdir(parents=True)
    src = shared_inbox / 'x.tar'
    src.write_bytes(DATA)
    Marker.complete(SHA, len(DATA), 'test', 1).write(str(shared_inbox / '.h' / 's' / 'x.tar.done'))
    private = tmp_path / 'private'
    private.mkdir(mode=0o700)
    if not create_parents:
        (private / 's').mkdir()
    run_as(attacker, 'ln -s %s %s/.h' % (private, outbox))
    with pytest.raises(HandoffError, match='symlink'):
        mover(src, outbox / 'x.tar', state_dir='.h/s', marker='move', create_parents=create_parents).run()
    made = [os.path.relpath(os.path.join(top, name), private) for top, dirs, names in os.walk(private)
            for name in dirs + names]
    assert made == ([] if create_parents else ['s'])
    assert src.read_bytes() == DATA and not os.path.lexists(outbox / 'x.tar')
