# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``locked_command``: run one command while holding a lock, as ``flock(1)`` does.

``creates`` and ``removes`` are judged after the lock is taken: judged before,
two runs queued on the same lock would both see the work undone, and the
second would redo it as soon as the first released. The lock descriptor is
close-on-exec, so the command runs while this process holds the lock but does
not hold it itself: nothing it leaves running in the background keeps the
lock after the task ends. The command runs in a process group of its own,
stopped when the controller goes away (a cancelled job), and the lock with it.
"""

from __future__ import annotations

import datetime
import glob
import os
import shlex

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_absolute, check_planned_files
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire, lock_settings, takes_lock_file
from ansible_collections.lockstep.handoff.plugins.module_utils._process_group import run_in_own_group

HOLDER = 'lockstep.handoff.locked_command'
FENCING_TOKEN_VARIABLE = 'LOCKSTEP_FENCING_TOKEN'


def command_argv(cmd, argv):
    """The argument vector from ``cmd`` (split like a shell would, but run without one) or ``argv``."""
    if cmd is not None:
        try:
            args = shlex.split(cmd)
        except ValueError as exc:
            raise HandoffError('cmd %r cannot be split into arguments: %s; fix the quoting or give argv as a '
                               'list' % (cmd, exc))
    else:
        args = list(argv)
    if not args:
        raise HandoffError('the command is empty; give the program to run and its arguments in cmd or argv')
    return args


def _text_lines(text):
    """Output as ``ansible.builtin.command`` returns it: trailing newlines removed, and split into lines."""
    text = text.rstrip('\r\n')
    return text, text.splitlines()


class LockedCommand:
    """One ``locked_command`` task on one host."""

    def __init__(self, module):
        params = module.params
        self.module = module
        self.params = params
        self.lock_path = params['lock_path']
        self.chdir = params['chdir']
        self.argv = None
        self.lock_settings = None

    def _check_options(self):
        """Refuse bad options in check mode too, though only a real run takes the lock."""
        if takes_lock_file(self.params['lock_type']):
            check_planned_files([PlannedFile('lock_path', self.lock_path, False)])
        self.lock_settings = lock_settings(self.module)
        self.argv = command_argv(self.params['cmd'], self.params['argv'])
        self._check_paths()
        if self.chdir is not None and not os.path.isdir(self.chdir):
            raise HandoffError('chdir %s does not exist or is not a directory; create it first or fix the path'
                               % self.chdir, path=self.chdir)

    def _check_paths(self):
        """``chdir`` absolute; ``creates`` and ``removes`` absolute or, as with ``command``, relative to ``chdir``."""
        if self.chdir is not None:
            check_absolute('chdir', self.chdir)
            return
        for option in ('creates', 'removes'):
            if self.params[option]:
                check_absolute(option, self.params[option], 'give chdir and a path relative to it')

    def _in_chdir(self, path):
        """``creates``/``removes`` relative to ``chdir``, where the command runs, as with ``command``."""
        return os.path.join(self.chdir, path) if self.chdir else path

    def _reason_not_to_run(self):
        """Why ``creates`` or ``removes`` say the work is already done, or None to run it."""
        creates, removes = self.params['creates'], self.params['removes']
        if creates and glob.glob(self._in_chdir(creates)):
            return '%s exists (creates)' % creates
        if removes and not glob.glob(self._in_chdir(removes)):
            return '%s does not exist (removes)' % removes
        return None

    def _result(self, changed):
        """The result of a command that has not run: rc 0, as ``ansible.builtin.command`` reports a skip."""
        return dict(changed=changed, cmd=self.argv, rc=0, stdout='', stderr='', stdout_lines=[],
                    stderr_lines=[], start=None, end=None, delta=None, lock_path=self.lock_path, lock_wait=0.0)

    def _execute(self, fencing_token):
        """Run the command to its end; its exit status is judged by the caller, after the lock is released.

        Under a lock with a fencing token (a Redis lease) the command gets it in ``LOCKSTEP_FENCING_TOKEN``, to
        hand to a store that can refuse writes carrying an older token.
        """
        start = datetime.datetime.now()
        environment = {} if fencing_token is None else {FENCING_TOKEN_VARIABLE: str(fencing_token)}
        try:
            rc, stdout, stderr = run_in_own_group(self.argv, cwd=self.chdir, stdin=self.params['stdin'],
                                                  environ_update=environment)
        except OSError as exc:
            raise HandoffError('cannot run %s: %s; give the full path of the program, or check that it exists '
                               'and is executable' % (self.argv[0], exc.strerror or exc), cmd=self.argv,
                               changed=False)
        end = datetime.datetime.now()
        result = self._result(True)
        result['stdout'], result['stdout_lines'] = _text_lines(stdout)
        result['stderr'], result['stderr_lines'] = _text_lines(stderr)
        result.update(rc=rc, start=str(start), end=str(end), delta=str(end - start))
        return result

    def _check_mode(self):
        """Say whether the command would run; take no lock (it would create the lock file) and run nothing."""
        reason = self._reason_not_to_run()
        result = self._result(reason is None)
        if reason:
            result['msg'] = 'check mode: would not run %s: %s' % (self.argv[0], reason)
        else:
            result['msg'] = 'check mode: would run %s holding lock %s' % (self.argv[0], self.lock_path)
        return result

    def run(self):
        """Take the lock, re-judge creates/removes under it, run; fail on a non-zero exit like ``command``."""
        self._check_options()
        if self.module.check_mode:
            return self._check_mode()
        with acquire(self.lock_path, shared=self.params['lock_shared'], holder=HOLDER,
                     **self.lock_settings) as lock:
            reason = self._reason_not_to_run()
            result = self._result(False) if reason else self._execute(lock.fencing_token)
            if not reason:
                lock.confirm_held('%s ran (rc %d)' % (self.argv[0], result['rc']), result)
        result['lock_wait'] = lock.waited
        if lock.fencing_token is not None:
            result['fencing_token'] = lock.fencing_token
        if reason:
            result['msg'] = 'did not run %s: %s, judged holding lock %s' % (self.argv[0], reason, self.lock_path)
        elif result['rc'] != 0:
            raise HandoffError('%s returned rc %d (non-zero return code); it ran holding lock %s, which is '
                               'now released' % (self.argv[0], result['rc'], self.lock_path), **result)
        else:
            result['msg'] = 'ran %s holding lock %s' % (self.argv[0], self.lock_path)
        return result
