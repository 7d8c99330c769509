# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``locked_move`` on a directory: every ready file of an inbox, in one module run.

One task per file costs a module run per file; a consumer draining an inbox
of hundreds of files wants one run that moves what is ready, leaves what is
not (yet), and says which is which. Each file is moved by the single-file
logic, under its own lock (or under one lock for the batch when given).
"""

from __future__ import annotations

import fnmatch
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._durable import TEMP_SUFFIX
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._locking import (
    LOCK_SUFFIX, LockTimeout, lock_settings, optional_lock)
from ansible_collections.lockstep.handoff.plugins.module_utils._marker import MARKER_SUFFIX
from ansible_collections.lockstep.handoff.plugins.module_utils._move import HOLDER, Move, NotReady, ProducerFailed
from ansible_collections.lockstep.handoff.plugins.module_utils._oserror import explained


class LockedMove:
    """A ``locked_move`` task: one file, or every ready file of an inbox directory."""

    def __init__(self, module):
        self.module = module

    def run(self):
        params = self.module.params
        if os.path.isdir(params['src']) and not os.path.islink(params['src']):
            return InboxMove(self.module).run()
        return Move(self.module, params['src'], params['dest'], params['marker_path'],
                    params['dest_marker_path'], params['lock_path']).run()


def inbox_files(directory, patterns):
    """Names in ``directory`` that are data files matching ``patterns``: not hidden, no marker, lock or temp."""
    names = []
    for name in sorted(os.listdir(directory)):
        if name.startswith('.') or name.endswith((MARKER_SUFFIX, LOCK_SUFFIX, TEMP_SUFFIX)):
            continue
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            continue
        if stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode):
            names.append(name)
    return names


class InboxMove:
    """Move every ready file from the ``src`` directory into the ``dest`` directory."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.src = self.params['src']
        self.dest = self.params['dest']

    def _check_options(self):
        for option in ('marker_path', 'dest_marker_path'):
            if self.params[option]:
                raise HandoffError('%s names one file; with a directory src %s each file NAME has its marker at '
                                   'NAME.done beside it, so leave %s unset' % (option, self.src, option))
        if os.path.exists(self.dest) and not os.path.isdir(self.dest):
            raise HandoffError('src %s is a directory, so dest %s must be a directory too' % (self.src, self.dest))
        if os.path.abspath(self.src) == os.path.abspath(self.dest):
            raise HandoffError('src and dest are the same directory (%s)' % self.src)
        if not os.path.isdir(self.dest):
            if not self.params['create_parents']:
                raise HandoffError('dest directory %s does not exist; create it first or set create_parents=true'
                                   % self.dest, dest=self.dest)
            if not self.module.check_mode:
                with explained('creating directory', self.dest):
                    os.makedirs(self.dest)

    def run(self):
        self._check_options()
        outcome = {'moved': [], 'already_moved': [], 'not_ready': [], 'busy': [], 'failed_by_producer': []}
        with explained('listing', self.src):
            names = inbox_files(self.src, self.params['patterns'])
        batch_lock = self.params['lock_path']
        with optional_lock(bool(batch_lock) and not self.module.check_mode, batch_lock, holder=HOLDER,
                           **lock_settings(self.module)) as lock:
            for name in names:
                self._move_one(name, batch_lock, lock, outcome)
        return self._result(outcome, lock.waited if lock is not None else 0.0)

    def _move_one(self, name, batch_lock, lock, outcome):
        mover = Move(self.module, os.path.join(self.src, name), os.path.join(self.dest, name),
                     lock_path=batch_lock)
        try:
            result = mover.move_holding_lock(lock) if batch_lock else mover.run()
        except NotReady as exc:
            outcome['not_ready'].append({'src': mover.src, 'reason': exc.msg})
        except ProducerFailed as exc:
            outcome['failed_by_producer'].append({'src': mover.src, 'reason': exc.msg})
        except LockTimeout as exc:
            outcome['busy'].append({'src': mover.src, 'reason': exc.msg})
        else:
            entry = {key: result.get(key) for key in ('src', 'dest', 'sha256', 'size', 'cross_device', 'msg')}
            outcome['moved' if result['changed'] else 'already_moved'].append(entry)

    def _result(self, outcome, lock_wait):
        moved = len(outcome['moved'])
        msg = ('%s %d file(s) from %s to %s; %d not ready, %d busy, %d already moved, %d failed by their producer'
               % ('would move' if self.module.check_mode else 'moved', moved, self.src, self.dest,
                  len(outcome['not_ready']), len(outcome['busy']), len(outcome['already_moved']),
                  len(outcome['failed_by_producer'])))
        if outcome['failed_by_producer']:
            raise HandoffError(msg + ': ' + '; '.join(item['reason'] for item in outcome['failed_by_producer']),
                               lock_wait=lock_wait, **outcome)
        return dict(changed=moved > 0, msg=msg, src=self.src, dest=self.dest, lock_wait=lock_wait, **outcome)
