# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""keep_previous and rollback: versions kept beside dest, put back exactly once, also after a SIGKILL."""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import signal
import stat

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _rollback
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs import generations
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    is_protocol_name, previous_generation, previous_name, rollback_record_name)
from ansible_collections.lockstep.handoff.plugins.modules import locked_move
from tests.support.hostile_user import run_as, shared_directory

FORK = multiprocessing.get_context('fork')


@pytest.fixture
def dirs(tmp_path):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    return tmp_path / 'in', tmp_path / 'out'


@pytest.fixture
def task(make_module):
    """``task(check_mode=False, **options)``: a locked_move task."""
    def make(check_mode=False, **options):
        options = dict((key, str(value) if isinstance(value, os.PathLike) else value) for key, value in options.items())
        if 'files' in options:
            options['files'] = [dict((key, str(value)) for key, value in item.items()) for item in options['files']]
        return LockedMove(make_module(locked_move.argument_spec(), check_mode=check_mode, **options))
    return make


def produce(path, data):
    path.write_bytes(data)
    Marker.complete(hashlib.sha256(data).hexdigest(), len(data), 'test', 1).write(str(path) + '.done')


def promote(task, inbox, outbox, data, keep=1, name='app.conf'):
    produce(inbox / name, data)
    return task(src=inbox / name, dest=outbox / name, keep_previous=keep).run()


def kept(outbox, name='app.conf'):
    """The kept versions' contents, newest first."""
    numbers = sorted(n for n in (previous_generation(entry, name) for entry in os.listdir(outbox)) if n)
    assert numbers == list(range(1, len(numbers) + 1)), 'kept versions are numbered without gaps'
    return [(outbox / previous_name(name, number)).read_bytes() for number in numbers]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_names_are_hidden_protocol_names_apart_from_temps_markers_and_locks():
    for name in (previous_name('a.conf', 1), previous_name('a.conf', 12), rollback_record_name('a.conf')):
        assert is_protocol_name(name)
        assert not name.endswith(('.tmp', '.done', '.lock'))
    assert previous_generation('.a.conf.prev-3', 'a.conf') == 3
    assert previous_generation('.a.conf.prev-03', 'a.conf') is None
    assert previous_generation('.a.conf.prev-x', 'a.conf') is None
    assert previous_generation('.b.conf.prev-1', 'a.conf') is None


def test_promotion_keeps_a_bounded_number_of_previous_versions(task, dirs):
    inbox, outbox = dirs
    first = promote(task, inbox, outbox, b'v1', keep=2)
    assert first['kept_previous'] is None and kept(outbox) == []
    second = promote(task, inbox, outbox, b'v2', keep=2)
    assert second['kept_previous'] == str(outbox / '.app.conf.prev-1')
    assert kept(outbox) == [b'v1']
    promote(task, inbox, outbox, b'v3', keep=2)
    promote(task, inbox, outbox, b'v4', keep=2)
    assert (outbox / 'app.conf').read_bytes() == b'v4'
    assert kept(outbox) == [b'v3', b'v2']
    assert not [entry for entry in os.listdir(outbox) if entry.endswith('.tmp')]


def test_keep_previous_zero_keeps_nothing(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1', keep=0)
    result = promote(task, inbox, outbox, b'v2', keep=0)
    assert result['kept_previous'] is None and kept(outbox) == []


def test_kept_version_has_the_replaced_files_mode_and_times(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1')
    (outbox / 'app.conf').chmod(0o640)
    os.utime(outbox / 'app.conf', (1000000000, 1000000000))
    promote(task, inbox, outbox, b'v2')
    st = os.stat(outbox / '.app.conf.prev-1')
    assert oct(st.st_mode & 0o7777) == oct(0o640) and st.st_mtime == 1000000000


def test_rollback_restores_the_previous_version_exactly_once(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1', keep=2)
    promote(task, inbox, outbox, b'v2', keep=2)
    promote(task, inbox, outbox, b'v3', keep=2)
    result = task(dest=outbox / 'app.conf', rollback=True).run()
    assert result['changed'] is True and result['status'] == 'restored'
    assert result['restored_sha256'] == sha(b'v2') and result['replaced_sha256'] == sha(b'v3')
    assert (outbox / 'app.conf').read_bytes() == b'v2'
    assert kept(outbox) == [b'v1']
    again = task(dest=outbox / 'app.conf', rollback=True).run()
    assert again['changed'] is False and again['status'] == 'unchanged'
    assert (outbox / 'app.conf').read_bytes() == b'v2' and kept(outbox) == [b'v1']


def test_a_promotion_after_a_rollback_makes_the_next_rollback_restore_what_it_replaced(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1')
    promote(task, inbox, outbox, b'v2')
    task(dest=outbox / 'app.conf', rollback=True).run()
    promote(task, inbox, outbox, b'v3')
    assert not (outbox / rollback_record_name('app.conf')).exists()
    result = task(dest=outbox / 'app.conf', rollback=True).run()
    assert result['changed'] is True and (outbox / 'app.conf').read_bytes() == b'v1'


def test_rollback_without_a_kept_version_fails_and_changes_nothing(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1')
    with pytest.raises(HandoffError, match='no previous version'):
        task(dest=outbox / 'app.conf', rollback=True).run()
    assert (outbox / 'app.conf').read_bytes() == b'v1'


def test_rollback_in_check_mode_says_what_it_would_do_and_does_nothing(task, dirs):
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'v1')
    promote(task, inbox, outbox, b'v2')
    result = task(check_mode=True, dest=outbox / 'app.conf', rollback=True).run()
    assert result['changed'] is True and result['status'] == 'restored'
    assert (outbox / 'app.conf').read_bytes() == b'v2' and kept(outbox) == [b'v1']
    task(dest=outbox / 'app.conf', rollback=True).run()
    assert task(check_mode=True, dest=outbox / 'app.conf', rollback=True).run()['changed'] is False


def test_rollback_of_a_list_reports_each_file_in_the_given_order(task, dirs):
    inbox, outbox = dirs
    for name in ('b.conf', 'a.conf'):
        promote(task, inbox, outbox, b'1' + name.encode(), name=name)
        promote(task, inbox, outbox, b'2' + name.encode(), name=name)
    files = [dict(src=inbox / name, dest=outbox / name) for name in ('b.conf', 'a.conf', 'c.conf')]
    with pytest.raises(HandoffError) as raised:
        task(files=files, rollback=True).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['restored', 'restored', 'failed']
    assert 'c.conf' in raised.value.msg and 'no previous version' in raised.value.msg
    assert (outbox / 'a.conf').read_bytes() == b'1a.conf' and (outbox / 'b.conf').read_bytes() == b'1b.conf'
    again = task(files=files[:2], rollback=True).run()
    assert again['changed'] is False and [item['status'] for item in again['results']] == ['unchanged'] * 2


@pytest.mark.skipif(os.geteuid() != 0, reason='planting a file of another user needs root')
def test_a_planted_kept_version_of_another_user_is_not_restored(dirs):
    outbox = dirs[1]
    (outbox / 'app.conf').write_bytes(b'v2')
    (outbox / '.app.conf.prev-1').write_bytes(b'evil')
    os.chown(outbox / '.app.conf.prev-1', 65534, 65534)
    with Directory.open(str(outbox)) as directory, pytest.raises(UnsafeFile, match='planted'):
        generations.roll_back(directory, 'app.conf')
    assert (outbox / 'app.conf').read_bytes() == b'v2'


def test_a_symlink_planted_as_kept_version_is_refused(dirs, tmp_path):
    outbox = dirs[1]
    (outbox / 'app.conf').write_bytes(b'v2')
    (tmp_path / 'secret').write_bytes(b'secret')
    os.symlink(tmp_path / 'secret', outbox / '.app.conf.prev-1')
    with Directory.open(str(outbox)) as directory, pytest.raises(UnsafeFile):
        generations.roll_back(directory, 'app.conf')
    assert (outbox / 'app.conf').read_bytes() == b'v2'


def _killed_at(outbox, step):
    """Roll back in a child that SIGKILLs itself at rename number ``step`` (0: writing the record's rename)."""
    def child():
        real = Directory.rename_verified
        calls = []

        def rename_verified(self, name, st, target, target_name):
            if len(calls) == step:
                os.kill(os.getpid(), signal.SIGKILL)
            calls.append(name)
            if len(calls) == step and step:
                real(self, name, st, target, target_name)
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, name, st, target, target_name)
        Directory.rename_verified = rename_verified
        with Directory.open(str(outbox)) as directory:
            generations.roll_back(directory, 'app.conf')
    process = FORK.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == -signal.SIGKILL


@pytest.mark.parametrize('step', [0, 1, 2, 3])
def test_a_rollback_killed_at_any_step_is_finished_by_a_rerun_without_loss_or_double_restore(task, dirs, step):
    inbox, outbox = dirs
    for data in (b'v1', b'v2', b'v3', b'v4'):
        promote(task, inbox, outbox, data, keep=3)
    assert kept(outbox) == [b'v3', b'v2', b'v1']
    _killed_at(outbox, step)
    assert (outbox / 'app.conf').read_bytes() in (b'v4', b'v3'), 'dest is never missing or partial'
    result = task(dest=outbox / 'app.conf', rollback=True).run()
    assert (outbox / 'app.conf').read_bytes() == b'v3'
    assert result['restored_sha256'] == sha(b'v3')
    assert kept(outbox) == [b'v2', b'v1'], 'no kept version lost, none restored twice'
    again = task(dest=outbox / 'app.conf', rollback=True).run()
    assert again['changed'] is False and (outbox / 'app.conf').read_bytes() == b'v3' and kept(outbox) == [b'v2', b'v1']


@pytest.mark.parametrize('step', [1, 2])
def test_a_promotion_killed_while_keeping_is_tidied_by_the_next_one(task, dirs, step):
    inbox, outbox = dirs
    for data in (b'v1', b'v2', b'v3'):
        promote(task, inbox, outbox, data, keep=3)
    assert kept(outbox) == [b'v2', b'v1']

    def child():
        real = Directory.rename_verified
        calls = []

        def rename_verified(self, name, st, target, target_name):
            calls.append(name)
            if len(calls) == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, name, st, target, target_name)
        Directory.rename_verified = rename_verified
        with Directory.open(str(outbox)) as directory:
            generations.keep_previous(directory, 'app.conf', 3)
    process = FORK.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    promote(task, inbox, outbox, b'v4', keep=3)
    assert (outbox / 'app.conf').read_bytes() == b'v4'
    assert kept(outbox)[0] == b'v3' and len(kept(outbox)) == 3


@pytest.fixture
def shared_outbox(attacker, dirs, tmp_path):
    """dest's directory shared with the attacker's group (``root:GROUP`` 2775): they may add and rename entries."""
    return shared_directory(tmp_path / 'shared-out', attacker)


def test_a_rollback_record_planted_by_another_user_does_not_make_the_rollback_a_no_op(task, dirs, shared_outbox,
                                                                                      attacker):
    """A group member wrote ``.NAME.rolled-back`` naming the present version as restored: the rollback said
    "already rolled back" (changed=false) and left the version it was asked to replace in place."""
    inbox = dirs[0]
    promote(task, inbox, shared_outbox, b'v1')
    promote(task, inbox, shared_outbox, b'v2')
    record = shared_outbox / rollback_record_name('app.conf')
    run_as(attacker, "printf '%%s' '{\"restored\": \"%s\", \"replaced\": \"x\"}' > %s" % (sha(b'v2'), record))
    result = task(dest=shared_outbox / 'app.conf', rollback=True).run()
    assert result['changed'] is True and result['restored_sha256'] == sha(b'v1')
    assert (shared_outbox / 'app.conf').read_bytes() == b'v1'
    assert os.lstat(record).st_uid == os.geteuid()


def test_the_rollback_record_is_no_wider_than_the_data_it_names(task, dirs):
    """The record holds the sha256 of the restored and the replaced version: 0644 beside 0600 data told every
    user the checksum of a secret."""
    inbox, outbox = dirs
    promote(task, inbox, outbox, b'secret v1')
    (outbox / 'app.conf').chmod(0o600)
    promote(task, inbox, outbox, b'secret v2')
    (outbox / 'app.conf').chmod(0o600)
    task(dest=outbox / 'app.conf', rollback=True).run()
    assert stat.S_IMODE(os.lstat(outbox / rollback_record_name('app.conf')).st_mode) & ~0o600 == 0


def test_a_hard_link_planted_as_kept_version_is_not_restored(task, dirs, shared_outbox, attacker, tmp_path):
    """A group member linked a root-owned file they may read and write (elsewhere on the filesystem) as the
    kept version: the rollback renamed that inode onto dest, so dest and the other file became one."""
    inbox = dirs[0]
    elsewhere = tmp_path / 'group-file'
    elsewhere.write_bytes(b'not a version of app.conf')
    os.chown(elsewhere, 0, attacker.gid)
    elsewhere.chmod(0o660)
    promote(task, inbox, shared_outbox, b'v1')
    promote(task, inbox, shared_outbox, b'v2')
    kept_path = shared_outbox / previous_name('app.conf', 1)
    run_as(attacker, 'mv %s %s.hidden && ln %s %s' % (kept_path, kept_path, elsewhere, kept_path))
    with pytest.raises(HandoffError, match='hard links'):
        task(dest=shared_outbox / 'app.conf', rollback=True).run()
    assert (shared_outbox / 'app.conf').read_bytes() == b'v2'
    assert os.lstat(shared_outbox / 'app.conf').st_nlink == 1 and os.lstat(elsewhere).st_nlink == 2


def test_a_directory_planted_at_the_record_name_fails_only_that_file_of_a_batch(task, dirs, shared_outbox,
                                                                                attacker):
    """A directory at ``.NAME.rolled-back`` made every move onto NAME end in a traceback (unlink: EISDIR), and
    in a ``files`` batch stopped the files after it."""
    inbox = dirs[0]
    for name in ('a.conf', 'b.conf'):
        produce(inbox / name, name.encode())
    run_as(attacker, 'mkdir %s' % (shared_outbox / rollback_record_name('a.conf')))
    files = [dict(src=inbox / name, dest=shared_outbox / name) for name in ('a.conf', 'b.conf')]
    with pytest.raises(HandoffError) as raised:
        task(files=files).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved']
    assert 'not a regular file' in results[0]['msg']
    assert (shared_outbox / 'b.conf').read_bytes() == b'b.conf'


def test_a_directory_planted_as_kept_version_fails_only_that_file_of_a_batch(task, dirs, shared_outbox, attacker):
    """A directory at a kept version's name made the shift (rename or unlink onto it) end in a traceback, and in a
    ``files`` batch stopped the files after it."""
    inbox = dirs[0]
    for name in ('a.conf', 'b.conf'):
        promote(task, inbox, shared_outbox, b'1' + name.encode(), keep=2, name=name)
        produce(inbox / name, b'2' + name.encode())
    run_as(attacker, 'mkdir %s' % (shared_outbox / previous_name('a.conf', 1)))
    files = [dict(src=inbox / name, dest=shared_outbox / name) for name in ('a.conf', 'b.conf')]
    with pytest.raises(HandoffError) as raised:
        task(files=files, keep_previous=1).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved']
    assert 'not a regular file' in results[0]['msg']
    assert (shared_outbox / 'a.conf').read_bytes() == b'1a.conf'
    assert kept(shared_outbox, 'b.conf') == [b'1b.conf']


def test_a_directory_made_at_the_kept_name_while_keeping_fails_only_that_file_of_a_batch(task, dirs, shared_outbox,
                                                                                         attacker, monkeypatch):
    """While dest was copied to its temp, a group member made a directory at ``.NAME.prev-1`` (the shift had just
    renamed the old one away): the temp's rename onto it raised EISDIR, a traceback that stopped the batch."""
    inbox = dirs[0]
    for name in ('a.conf', 'b.conf'):
        promote(task, inbox, shared_outbox, b'1' + name.encode(), keep=2, name=name)
        promote(task, inbox, shared_outbox, b'2' + name.encode(), keep=2, name=name)
        produce(inbox / name, b'3' + name.encode())
    real_copy = generations.copy_file
    planted = []

    def copy_then_plant(src_fd, src_st, dst_fd):
        copied = real_copy(src_fd, src_st, dst_fd)
        if not planted:
            planted.append(shared_outbox / previous_name('a.conf', 1))
            run_as(attacker, 'mkdir %s' % planted[0])
        return copied

    monkeypatch.setattr(generations, 'copy_file', copy_then_plant)
    files = [dict(src=inbox / name, dest=shared_outbox / name) for name in ('a.conf', 'b.conf')]
    with pytest.raises(HandoffError) as raised:
        task(files=files, keep_previous=2).run()
    results = raised.value.details['results']
    assert [item['status'] for item in results] == ['failed', 'moved']
    assert 'directory' in results[0]['msg']
    assert (shared_outbox / 'a.conf').read_bytes() == b'2a.conf'
    assert kept(shared_outbox, 'b.conf') == [b'2b.conf', b'1b.conf']


def test_another_users_file_swapped_in_for_dest_is_kept_as_theirs_and_never_restored(task, dirs, shared_outbox,
                                                                                     attacker):
    """A group member replaced dest with their own file before a promotion: the kept copy stays theirs (no root
    file with their bytes), and a rollback refuses to put it back over root's version."""
    inbox = dirs[0]
    promote(task, inbox, shared_outbox, b'v1')
    dest = shared_outbox / 'app.conf'
    run_as(attacker, 'printf evil > %s/x && chmod 644 %s/x && mv -f %s/x %s' % ((shared_outbox,) * 3 + (dest,)))
    promote(task, inbox, shared_outbox, b'v2')
    kept_st = os.lstat(shared_outbox / previous_name('app.conf', 1))
    assert kept_st.st_uid == attacker.uid
    with pytest.raises(HandoffError, match='planted'):
        task(dest=dest, rollback=True).run()
    assert dest.read_bytes() == b'v2' and os.lstat(dest).st_uid == 0


def test_a_rollback_list_with_one_directory_replaced_by_a_file_rolls_back_the_others(task, dirs, shared_outbox,
                                                                                     attacker):
    inbox = dirs[0]
    for name in ('one', 'two'):
        (shared_outbox / name).mkdir()
        for data in (b'v1', b'v2'):
            produce(inbox / name, data)
            task(src=inbox / name, dest=shared_outbox / name / 'app.conf', keep_previous=1).run()
    run_as(attacker, 'mv %s %s.gone && touch %s' % ((shared_outbox / 'one',) * 3))
    files = [dict(src=inbox / name, dest=shared_outbox / name / 'app.conf') for name in ('one', 'two')]
    with pytest.raises(HandoffError) as raised:
        task(files=files, rollback=True).run()
    assert [item['status'] for item in raised.value.details['results']] == ['failed', 'restored']
    assert (shared_outbox / 'two' / 'app.conf').read_bytes() == b'v1'


def test_a_record_root_wrote_still_counts_for_a_rollback_run_as_the_files_owner(task, dirs, shared_outbox, attacker):
    """Root rolled back, then the file's owner (an application account) runs the same rollback: root's record must
    still say "done", or the second run restores the version before that too."""
    inbox = dirs[0]
    for data in (b'v1', b'v2', b'v3'):
        promote(task, inbox, shared_outbox, data, keep=2)
    task(dest=shared_outbox / 'app.conf', rollback=True).run()
    os.chown(shared_outbox / 'app.conf', attacker.uid, attacker.gid)

    def child():
        os.setegid(attacker.gid)
        os.seteuid(attacker.uid)
        with Directory.open(str(shared_outbox)) as directory:
            os._exit(0 if generations.rolled_back_already(directory, 'app.conf') is not None else 1)
    process = FORK.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0, 'root\'s record was not taken as the last rollback'


def test_an_os_error_while_rolling_back_one_file_fails_that_file_alone_with_a_message(task, dirs, monkeypatch):
    """Found by the adversarial suite (move_rollback, 1 trial in 600): an OSError of another user's race
    escaped as a traceback, and the files after it in the batch were not rolled back."""
    inbox, outbox = dirs
    for name in ('a.conf', 'b.conf'):
        promote(task, inbox, outbox, b'1' + name.encode(), name=name)
        promote(task, inbox, outbox, b'2' + name.encode(), name=name)
    real_roll_back = _rollback.roll_back

    def roll_back(directory, name, before_rename=None):
        if name == 'a.conf':
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_roll_back(directory, name, before_rename)

    monkeypatch.setattr(_rollback, 'roll_back', roll_back)
    files = [dict(src=inbox / name, dest=outbox / name) for name in ('a.conf', 'b.conf')]
    with pytest.raises(HandoffError) as raised:
        task(files=files, rollback=True).run()
    assert [item['status'] for item in raised.value.details['results']] == ['failed', 'restored']
    assert 'rolling back %s' % (outbox / 'a.conf') in raised.value.msg
    assert (outbox / 'b.conf').read_bytes() == b'1b.conf'
