# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``locked_move`` with ``files``: a list of moves, optionally awaited, in one module run.

A fleet rollout of twenty files used to cost a wait and a move per file (forty
module runs per host); here one run waits on inotify for every marker (one
deadline for the batch) and moves each file as soon as it is ready, each by
the single-file logic under its own lock. Files are taken in the order of
their lock paths, so two batches always queue for shared locks in the same
order.

With ``all_or_none`` (configuration sets that must not mix versions) nothing
moves until every file is ready; then all their locks are taken, in that same
sorted order (two batches holding locks while waiting for each other's would
deadlock otherwise), every file is judged again under them, and either all
move or none does.
"""

from __future__ import annotations

import contextlib
import os

from ansible_collections.lockstep.handoff.plugins.module_utils._batch import Deadline, ModuleForItem, check_distinct
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone, stop_if_controller_gone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import temps_of
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explain
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire, lock_settings
from ansible_collections.lockstep.handoff.plugins.module_utils._move import (
    HOLDER, Move, NotReady, move_options, report_leftover_temps)
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import WAITING, HashCache, observe
from ansible_collections.lockstep.handoff.plugins.module_utils._watch import DirectoryWatcher

FILE_OPTIONS = ('src', 'dest', 'marker_path', 'dest_marker_path', 'lock_path', 'mode', 'owner', 'group')

MOVED = 'moved'
UNCHANGED = 'unchanged'
NOT_READY = 'not_ready'
NOT_MOVED = 'not_moved'
FAILED = 'failed'


class _File:
    """One file of the batch: its module view, its mover, what the last look saw, and its outcome."""

    def __init__(self, module, item):
        self.module = ModuleForItem(module, item)
        params = self.module.params
        self.mover = Move(self.module, move_options(params), params['src'], params['dest'], params['marker_path'],
                          params['dest_marker_path'], params['lock_path'])
        self.waiting = None
        self.outcome = None

    @property
    def lock_path(self):
        return self.mover.lock_path

    def look(self, hash_cache):
        """None when the move can give the verdict now (ready, failed by its producer, or moved already), else why not.

        Looks without the lock: the move judges the marker again under it.
        """
        params, mover = self.module.params, self.mover
        if not os.path.lexists(mover.src) and params['skip_moved'] and os.path.lexists(mover.dest):
            self.waiting = None
        elif not params['require_marker']:
            self.waiting = None if os.path.lexists(mover.src) else 'src %s does not exist yet' % mover.src
        else:
            try:
                seen = observe(mover.src, mover.marker_path, params['verify_checksum'], params['require_checksum'],
                               hash_cache=hash_cache)
            except OSError as exc:
                self.waiting = 'cannot look at %s: %s' % (mover.src, exc.strerror)
            else:
                self.waiting = seen.reason if seen.status == WAITING else None
        return self.waiting

    def _failure(self, exc):
        """An OSError of this file (a directory on its way replaced with a file, say) as its HandoffError: one
        file another user of the directories tampered with never stops the others."""
        return explain(exc, 'moving %s to' % self.mover.src, self.mover.dest)

    def take(self, waited=None):
        """Move it under its lock; ``waited`` (the wait's last words) is added to a failure's message."""
        try:
            self._record(self.mover.run())
        except ControllerGone:
            raise
        except HandoffError as exc:
            self.fail(exc.msg, waited)
        except OSError as exc:
            self.fail(self._failure(exc).msg, waited)

    def judge(self):
        """Under locks the caller holds: the check-mode verdict of moving it now, or the HandoffError against it."""
        judge = Move(ModuleForItem(self.module, {}, check_mode=True), self.mover.options, self.mover.src, self.mover.dest,
                     self.mover.marker_path, self.mover.dest_marker_path, self.mover.lock_path)
        try:
            return judge.move_holding_lock(None)
        except OSError as exc:
            raise self._failure(exc) from exc

    def take_holding(self, lock):
        """Move it under ``lock``, which the caller holds."""
        try:
            result = self.mover.move_holding_lock(lock)
            result.update(lock_path=self.lock_path, lock_wait=lock.waited if lock is not None else 0.0)
            self._record(report_leftover_temps(self.module, result, temps_of(self.mover.dest), self.mover.dest))
        except ControllerGone:
            raise
        except HandoffError as exc:
            self.fail(exc.msg)
        except OSError as exc:
            self.fail(self._failure(exc).msg)

    def _record(self, result):
        result['status'] = MOVED if result['changed'] else UNCHANGED
        result['failed'] = False
        self.outcome = result

    def set_outcome(self, status, msg, failed=False):
        self.outcome = dict(src=self.mover.src, dest=self.mover.dest, lock_path=self.lock_path, changed=False,
                            failed=failed, status=status, msg=msg)

    def fail(self, msg, waited=None):
        self.set_outcome(FAILED, msg + (' (waiting: %s)' % waited if waited else ''), failed=True)


class BatchMove:
    """Move every file of ``files`` (waiting for their markers with ``wait``) in one module run."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        # Check mode looks once: the producer's run a wait would be for changed nothing in check mode either.
        self.waits = self.params['wait'] and not self.check_mode
        self.hash_cache = HashCache()

    def run(self):
        items = [dict((key, item.get(key)) for key in FILE_OPTIONS) for item in self.params['files']]
        if not items:
            return dict(changed=False, msg='no files given: nothing to move', results=[], elapsed=0.0)
        check_distinct(items, 'src', 'files')
        check_distinct(items, 'dest', 'files')
        files = [_File(self.module, item) for item in items]
        # One absolute state_dir names markers by file name alone: moving one file would take the other's marker.
        check_distinct([dict(marker_path=file.mover.marker_path) for file in files], 'marker_path', 'files')
        in_lock_order = sorted(files, key=lambda file: file.lock_path)
        deadline = Deadline(self.params['timeout'] if self.waits else 0)
        directories = {os.path.dirname(os.path.abspath(path)) for file in files
                       for path in (file.mover.src, file.mover.marker_path)}
        with DirectoryWatcher(directories if self.waits else ()) as watcher:
            if self.params['all_or_none']:
                self._all_or_none(in_lock_order, deadline, watcher)
            else:
                self._each_when_ready(in_lock_order, deadline, watcher)
        return self._result(files, deadline)

    def _timed_out(self, file):
        return 'timed out after %ss waiting for the marker %s: %s' % (
            self.params['timeout'], file.mover.marker_path, file.waiting)

    def _not_ready_in_check_mode(self, file):
        then = ('a real run waits up to %ss for it' % self.params['timeout'] if self.params['wait']
                else 'a real run fails unless it is ready by then')
        file.set_outcome(NOT_READY, 'check mode looks once: %s; %s' % (file.waiting, then))

    def _pause(self, deadline, watcher):
        """Sleep until an event, the next safety look or the deadline; a cancelled job stops the batch here."""
        stop_if_controller_gone('moving the files not ready yet')
        watcher.wait(min(self.params['sleep'], deadline.remaining))

    def _each_when_ready(self, files, deadline, watcher):
        """Move each file as soon as it is ready; at the deadline the move gives its verdict on the rest."""
        pending = files
        while pending:
            still = []
            for file in pending:
                if (self.waits or self.check_mode) and file.look(self.hash_cache) is not None:
                    still.append(file)
                else:
                    file.take()
            pending = still
            if not pending or deadline.remaining <= 0:
                break
            self._pause(deadline, watcher)
        for file in pending:
            if self.check_mode:
                self._not_ready_in_check_mode(file)
            else:
                file.take(waited=self._timed_out(file) if self.waits else None)

    def _all_or_none(self, files, deadline, watcher):
        """Wait until every file is ready, then move all of them under all their locks, or none."""
        while True:
            waiting = [file for file in files if file.look(self.hash_cache) is not None] if (
                self.waits or self.check_mode) else []
            if self.check_mode:
                for file in files:
                    if file in waiting:
                        self._not_ready_in_check_mode(file)
                    else:
                        file.take()
                return
            if not waiting:
                refused = self._move_all_or_none(files)
                if not refused:
                    return
                if not self.waits or deadline.remaining <= 0 or any(
                        not isinstance(error, NotReady) for error in refused.values()):
                    self._refuse_all(files, refused)
                    return
            elif deadline.remaining <= 0:
                self._refuse_all(files, dict((file, self._timed_out(file)) for file in waiting))
                return
            self._pause(deadline, watcher)

    def _move_all_or_none(self, files):
        """Take every lock (sorted, each once), judge every file under them; move all and return {}, or none and
        return {file: HandoffError} for the files that may not move now."""
        refused = {}
        for file in files:
            try:
                file.mover.prepare()
            except HandoffError as exc:
                refused[file] = exc
        if refused:
            return refused
        settings = lock_settings(self.module)
        with contextlib.ExitStack() as held:
            locks = {}
            for path in sorted(set(file.lock_path for file in files)):
                try:
                    locks[path] = held.enter_context(acquire(path, holder=HOLDER, **settings))
                except HandoffError as exc:
                    return dict((file, exc) for file in files if file.lock_path == path)
            for file in files:
                try:
                    file.judge()
                except HandoffError as exc:
                    refused[file] = exc
            if refused:
                return refused
            for file in files:
                file.take_holding(locks[file.lock_path])
        return {}

    def _refuse_all(self, files, refused):
        """Move none: each file that was not ready (or failed) says why, the others that they were held back."""
        for file in files:
            why = refused.get(file)
            if why is not None:
                file.fail(why.msg if isinstance(why, HandoffError) else why)
            else:
                file.set_outcome(NOT_MOVED, 'ready, but not moved: all_or_none is set and %d other file(s) of the '
                                 'batch were not ready' % len(refused))

    def _result(self, files, deadline):
        results = [file.outcome for file in files]
        diff = [result.pop('diff') for result in results if 'diff' in result]
        counts = dict((status, sum(1 for result in results if result['status'] == status))
                      for status in (MOVED, UNCHANGED, NOT_READY, NOT_MOVED, FAILED))
        changed = counts[MOVED] > 0
        summary = '%s %d of %d file(s), %d already in place' % (
            'would move' if self.check_mode else 'moved', counts[MOVED], len(files), counts[UNCHANGED])
        if counts[NOT_READY]:
            summary += ', %d not ready yet' % counts[NOT_READY]
        elapsed = round(deadline.elapsed, 3)
        if counts[FAILED]:
            failed = [result for result in results if result['failed']]
            msg = '%d of %d file(s) not moved (%s): %s' % (
                counts[FAILED] + counts[NOT_MOVED], len(files), summary,
                '; '.join('%s: %s' % (result['src'], result['msg']) for result in failed))
            raise HandoffError(msg, changed=changed, results=results, elapsed=elapsed)
        return dict(changed=changed, msg=summary, results=results, elapsed=elapsed, diff=diff)
