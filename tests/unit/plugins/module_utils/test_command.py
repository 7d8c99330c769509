# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""locked_command against real processes: the command runs under the lock, flock(1) holders exclude it."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lockstep.handoff.plugins.modules import locked_command
from ansible_collections.lockstep.handoff.plugins.module_utils._command import HOLDER, LockedCommand, command_argv
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire

FORK = multiprocessing.get_context('fork')


def run(make_module, check_mode=False, **params):
    """One locked_command task, in this process (so its pid is ours)."""
    return LockedCommand(make_module(locked_command.argument_spec(), check_mode=check_mode, **params)).run()


def flock_nonblocking(flock_cmd, path, *options):
    return subprocess.run([flock_cmd, '-n', *options, str(path), 'true'], check=False).returncode


@pytest.mark.parametrize('cmd, argv, expected', [
    ('echo "two words" three', None, ['echo', 'two words', 'three']),
    ("sh -c 'echo $HOME'", None, ['sh', '-c', 'echo $HOME']),
    (None, ['printf', '%s\n', 'a b'], ['printf', '%s\n', 'a b']),
])
def test_command_argv_splits_cmd_like_a_shell_and_keeps_argv(cmd, argv, expected):
    assert command_argv(cmd, argv) == expected


@pytest.mark.parametrize('cmd, argv, message', [
    ('echo "unclosed', None, 'cannot be split into arguments: No closing quotation'),
    ('  ', None, 'the command is empty'),
    (None, [], 'the command is empty'),
])
def test_command_argv_refuses_what_cannot_run(cmd, argv, message):
    with pytest.raises(HandoffError, match=message):
        command_argv(cmd, argv)


@pytest.mark.parametrize('params, message', [
    (dict(lock_path='/l'), 'one of the following is required: cmd, argv'),
    (dict(lock_path='/l', cmd='true', argv=['true']), 'mutually exclusive: cmd|argv'),
    (dict(cmd='true'), 'missing required arguments: lock_path'),
    (dict(cmd='true', lock_path='/l', lock_shared='sometimes'), 'lock_shared'),
])
def test_argument_rules(params, message):
    errors = ArgumentSpecValidator(locked_command.argument_spec(), **locked_command.ARGUMENT_RULES).validate(params).error_messages
    assert message in ' '.join(errors)


def test_runs_and_returns_what_command_returns(tmp_path, make_module):
    result = run(make_module, argv=['sh', '-c', 'printf "one\\ntwo\\n\\n"; echo oops >&2; exit 0'],
                 lock_path=str(tmp_path / 'x.lock'))
    assert result['changed'] is True
    assert (result['rc'], result['stdout'], result['stdout_lines'], result['stderr'], result['stderr_lines']) == (
        0, 'one\ntwo', ['one', 'two'], 'oops', ['oops'])
    assert result['cmd'][0] == 'sh'
    assert result['start'] and result['end'] and result['delta'].startswith('0:00:0')
    assert result['lock_path'] == str(tmp_path / 'x.lock') and result['lock_wait'] < 0.1
    assert result['msg'] == 'ran sh holding lock %s' % (tmp_path / 'x.lock')


def test_command_runs_while_the_lock_is_held_but_does_not_inherit_it(tmp_path, make_module, flock_cmd):
    path = tmp_path / 'x.lock'
    script = 'flock -n "$1" true; echo "flock=$?"; ls -l /proc/$$/fd'
    result = run(make_module, argv=['sh', '-c', script, 'sh', str(path)], lock_path=str(path))
    assert result['stdout_lines'][0] == 'flock=1'
    assert str(path) not in result['stdout']
    assert flock_nonblocking(flock_cmd, path) == 0


def test_exclusive_holder_writes_an_owner_record_the_command_can_read(tmp_path, make_module):
    path = tmp_path / 'x.lock'
    result = run(make_module, argv=['cat', str(path)], lock_path=str(path))
    record = json.loads(result['stdout'])
    assert (record['holder'], record['pid']) == (HOLDER, os.getpid())
    assert path.read_bytes() == b''


def test_data_file_used_as_its_own_lock_is_never_overwritten(tmp_path, make_module, flock_cmd):
    data = tmp_path / 'balance.dat'
    data.write_text('200\n')
    result = run(make_module, argv=['sh', '-c', 'cat "$1"; "$2" -n "$1" true; echo $?', 'sh', str(data), flock_cmd],
                 lock_path=str(data))
    assert result['stdout_lines'] == ['200', '1']
    assert data.read_text() == '200\n'


def test_a_stale_owner_record_is_replaced_by_ours(tmp_path, make_module):
    path = tmp_path / 'x.lock'
    path.write_text(json.dumps(dict(host='gone', pid=1, boot_id='b', since='2026-01-01T00:00:00Z', holder='x')))
    result = run(make_module, argv=['cat', str(path)], lock_path=str(path))
    assert json.loads(result['stdout'])['pid'] == os.getpid()
    assert path.read_bytes() == b''


def test_shared_mode_runs_beside_another_shared_holder_and_writes_no_record(tmp_path, make_module, hold_lock):
    path = tmp_path / 'x.lock'
    hold_lock(path, '-s')
    result = run(make_module, argv=['cat', str(path)], lock_path=str(path), lock_shared=True, lock_timeout=0)
    assert (result['rc'], result['stdout']) == (0, '')


def test_flock1_holder_makes_it_time_out_naming_the_holder_and_nothing_runs(tmp_path, make_module, hold_lock):
    path = tmp_path / 'x.lock'
    marker = tmp_path / 'ran'
    holder = hold_lock(path)
    with pytest.raises(LockTimeout) as caught:
        run(make_module, argv=['touch', str(marker)], lock_path=str(path), lock_timeout=0.2)
    assert 'is held by pid %d (%s) [FLOCK WRITE]' % (holder.pid, holder.command) in caught.value.msg
    assert 'lock_timeout=0.2s' in caught.value.msg
    assert not marker.exists()


def test_exclusive_mode_waits_for_a_shared_flock1_holder(tmp_path, make_module, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path, '-s')
    threading.Timer(0.3, holder.release).start()
    result = run(make_module, argv=['true'], lock_path=str(path), lock_timeout=5)
    assert 0.2 <= result['lock_wait'] < 3


def _hold_as_locked_move(path, held, done):
    with acquire(path, 0, holder='lockstep.handoff.locked_move'):
        held.set()
        done.wait(10)


def test_another_process_holding_the_lock_as_locked_move_excludes_it(tmp_path, make_module):
    path = tmp_path / 'x.lock'
    held, done = FORK.Event(), FORK.Event()
    proc = FORK.Process(target=_hold_as_locked_move, args=(str(path), held, done))
    proc.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockTimeout) as caught:
            run(make_module, argv=['true'], lock_path=str(path), lock_timeout=0)
    finally:
        done.set()
        proc.join(10)
    assert 'is held by pid %d (' % proc.pid in caught.value.msg
    assert run(make_module, argv=['true'], lock_path=str(path), lock_timeout=0)['rc'] == 0


def test_creates_is_judged_under_the_lock(tmp_path, make_module, hold_lock):
    """The holder creates the file just before it releases; the waiting task must see it and not run."""
    path = tmp_path / 'x.lock'
    created = tmp_path / 'built'
    ran = tmp_path / 'ran'
    holder = hold_lock(path)

    def build_then_release():
        created.touch()
        holder.release()

    threading.Timer(0.3, build_then_release).start()
    result = run(make_module, argv=['touch', str(ran)], lock_path=str(path), lock_timeout=5, creates=str(created))
    assert result['changed'] is False and result['rc'] == 0
    assert result['msg'] == 'did not run touch: %s exists (creates), judged holding lock %s' % (created, path)
    assert result['lock_wait'] >= 0.2
    assert not ran.exists()


def test_removes_missing_means_not_run(tmp_path, make_module):
    result = run(make_module, argv=['false'], lock_path=str(tmp_path / 'x.lock'), removes=str(tmp_path / 'in*'))
    assert result['changed'] is False
    assert 'does not exist (removes)' in result['msg']


def test_removes_present_means_run(tmp_path, make_module):
    (tmp_path / 'input.csv').touch()
    result = run(make_module, argv=['true'], lock_path=str(tmp_path / 'x.lock'), removes=str(tmp_path / 'in*'))
    assert result['changed'] is True and result['rc'] == 0


def test_chdir_is_where_the_command_runs_and_where_creates_is_relative_to(tmp_path, make_module):
    work = tmp_path / 'work'
    work.mkdir()
    result = run(make_module, cmd='pwd', chdir=str(work), lock_path=str(tmp_path / 'x.lock'), creates='out.txt')
    assert result['stdout'] == str(work)
    (work / 'out.txt').touch()
    again = run(make_module, cmd='pwd', chdir=str(work), lock_path=str(tmp_path / 'x.lock'), creates='out.txt')
    assert again['changed'] is False


@pytest.mark.parametrize('extra, message', [
    (dict(chdir='work'), '^chdir work is a relative path; give an absolute path'),
    (dict(creates='out.txt'), '^creates out.txt is a relative path; give an absolute path .*, or give chdir'),
    (dict(removes='in*'), r'^removes in\* is a relative path; give an absolute path .*, or give chdir'),
    (dict(check_mode=True, creates='out.txt'), '^creates out.txt is a relative path'),
])
def test_relative_chdir_and_creates_or_removes_without_chdir_are_refused_before_anything_runs(
        tmp_path, make_module, monkeypatch, extra, message):
    """Not taken from the module's working directory, which nobody chose: nothing runs, no lock file is made."""
    (tmp_path / 'work').mkdir()
    (tmp_path / 'in.csv').touch()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HandoffError, match=message):
        run(make_module, argv=['touch', str(tmp_path / 'ran')], lock_path=str(tmp_path / 'x.lock'), **extra)
    assert sorted(os.listdir(str(tmp_path))) == ['in.csv', 'work']


def test_relative_removes_is_taken_from_chdir(tmp_path, make_module):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'in.csv').touch()
    result = run(make_module, cmd='pwd', chdir=str(work), lock_path=str(tmp_path / 'x.lock'), removes='in*')
    assert result['changed'] is True and result['stdout'] == str(work)


def test_missing_chdir_is_refused_before_any_lock_file_is_made(tmp_path, make_module):
    with pytest.raises(HandoffError, match='chdir .*/nowhere does not exist or is not a directory'):
        run(make_module, cmd='true', chdir=str(tmp_path / 'nowhere'), lock_path=str(tmp_path / 'x.lock'))
    assert not (tmp_path / 'x.lock').exists()


def test_stdin_is_fed_with_a_newline(tmp_path, make_module):
    result = run(make_module, argv=['od', '-c'], stdin='hi', lock_path=str(tmp_path / 'x.lock'))
    assert 'h   i  \\n' in result['stdout']


def test_non_zero_exit_fails_like_command_after_releasing_the_lock(tmp_path, make_module, flock_cmd):
    path = tmp_path / 'x.lock'
    with pytest.raises(HandoffError) as caught:
        run(make_module, argv=['sh', '-c', 'echo partial; exit 3'], lock_path=str(path))
    assert caught.value.msg == 'sh returned rc 3 (non-zero return code); it ran holding lock %s, which is now ' \
                               'released' % path
    details = caught.value.details
    assert (details['rc'], details['stdout'], details['changed']) == (3, 'partial', True)
    assert flock_nonblocking(flock_cmd, path) == 0
    assert path.read_bytes() == b''


def test_missing_program_fails_naming_it_and_clears_the_record(tmp_path, make_module, flock_cmd):
    path = tmp_path / 'x.lock'
    with pytest.raises(HandoffError, match='cannot run no-such-program-here: No such file or directory'):
        run(make_module, cmd='no-such-program-here --now', lock_path=str(path))
    assert path.read_bytes() == b''
    assert flock_nonblocking(flock_cmd, path) == 0


def test_check_mode_runs_nothing_and_takes_no_lock(tmp_path, make_module):
    ran = tmp_path / 'ran'
    result = run(make_module, check_mode=True, argv=['touch', str(ran)], lock_path=str(tmp_path / 'x.lock'))
    assert result['changed'] is True and result['rc'] == 0 and result['lock_wait'] == 0.0
    assert result['msg'] == 'check mode: would run touch holding lock %s' % (tmp_path / 'x.lock')
    assert not ran.exists() and not (tmp_path / 'x.lock').exists()


def test_check_mode_honours_creates(tmp_path, make_module):
    (tmp_path / 'built').touch()
    result = run(make_module, check_mode=True, argv=['true'], lock_path=str(tmp_path / 'x.lock'),
                 creates=str(tmp_path / 'built'))
    assert result['changed'] is False
    assert result['msg'].startswith('check mode: would not run true: ')


def test_check_mode_is_not_blocked_by_a_holder(tmp_path, make_module, hold_lock):
    path = tmp_path / 'x.lock'
    hold_lock(path)
    assert run(make_module, check_mode=True, argv=['true'], lock_path=str(path), lock_timeout=0)['changed']


@pytest.mark.parametrize('extra, message', [
    (dict(lock_timeout=-1), 'lock_timeout is -1.0; it must be 0'),
    (dict(check_mode=True, lock_timeout=-1), 'lock_timeout is -1.0; it must be 0'),
])
def test_negative_lock_timeout_is_refused(tmp_path, make_module, extra, message):
    with pytest.raises(HandoffError, match=message):
        run(make_module, argv=['true'], lock_path=str(tmp_path / 'x.lock'), **extra)
    assert not (tmp_path / 'x.lock').exists()


def test_symlink_lock_path_is_refused_and_nothing_runs(tmp_path, make_module):
    link = tmp_path / 'x.lock'
    link.symlink_to(tmp_path / 'target')
    ran = tmp_path / 'ran'
    with pytest.raises(HandoffError, match='is a symlink'):
        run(make_module, argv=['touch', str(ran)], lock_path=str(link))
    assert not ran.exists() and not (tmp_path / 'target').exists()


def test_directory_lock_path_with_flock(tmp_path, make_module, flock_cmd):
    spool = tmp_path / 'spool'
    spool.mkdir()
    result = run(make_module, argv=['sh', '-c', '"$1" -n "$2" true; echo $?', 'sh', flock_cmd, str(spool)],
                 lock_path=str(spool))
    assert result['stdout'] == '1'


def test_fcntl_lock_excludes_an_fcntl_holder(tmp_path, make_module, hold_lock):
    path = tmp_path / 'x.lock'
    holder = hold_lock(path, kind='fcntl')
    with pytest.raises(LockTimeout) as caught:
        run(make_module, argv=[sys.executable, '-c', 'pass'], lock_path=str(path), lock_type='fcntl',
            lock_timeout=0)
    assert 'held by pid %d (%s) [POSIX WRITE]' % (holder.pid, holder.command) in caught.value.msg


@pytest.mark.parametrize('extra, message', [
    (dict(lock_timeout=float('nan')), '^lock_timeout is nan; it must be 0'),
    (dict(lock_timeout=float('inf')), '^lock_timeout is inf; it must be 0'),
    (dict(lock_type='redis', redis_host='127.0.0.1', lock_lease_ttl=float('nan')), '^lock_lease_ttl is nan; it must be'),
    (dict(lock_path='spool/x.lock'), '^lock_path spool/x.lock is a relative path'),
    (dict(lock_path='/tmp/' + 'l' * 256), '^lock_path /tmp/l+: the name l+ of lock_path is 256 bytes'),
])
def test_absurd_numbers_and_unusable_lock_paths_are_refused_before_anything_runs(tmp_path, make_module, extra,
                                                                                 message):
    extra.setdefault('lock_path', str(tmp_path / 'x.lock'))
    with pytest.raises(HandoffError, match=message):
        run(make_module, argv=['touch', str(tmp_path / 'ran')], **extra)
    assert os.listdir(str(tmp_path)) == []
