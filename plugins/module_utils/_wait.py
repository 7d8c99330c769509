# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``wait_for_marker``: wake on inotify, judge, repeat until the deadline.

Without a marker, ``stable_for``/``min_age`` accept a file that stopped
changing: weaker than a marker (a stalled writer looks finished), so a marker,
when one appears, is always judged first.
"""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._batch import Deadline, ModuleForItem, check_distinct
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_planned_files
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError, NotYet
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import default_marker_path, set_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import (
    FAILED, READY, HashCache, Observation, observe)
from ansible_collections.lockstep.handoff.plugins.module_utils._state_mirror import mirrored_wait
from ansible_collections.lockstep.handoff.plugins.module_utils._watch import DirectoryWatcher


class Wait:
    """One ``wait_for_marker`` task on one host."""

    def __init__(self, module):
        params = module.params
        self.params = params
        self.check_mode = module.check_mode
        # A set's directory may be given as dir/; its manifest is still dir.done.
        self.path = set_directory(params['path'])
        self.marker_path = params['marker_path'] or default_marker_path(self.path, params['state_dir'])
        # Check mode looks once: the producer's run it would wait for changed nothing either.
        self.timeout = 0 if self.check_mode else params['timeout']
        self.sleep = params['sleep']
        self.started = None
        self.stability = Stability(params['stable_for'], params['min_age'])

    def _check_options(self):
        if self.params['state'] == 'absent' and self.stability.wanted:
            raise HandoffError('stable_for and min_age apply to state=present only')
        if os.path.abspath(self.marker_path) == os.path.abspath(self.path):
            raise HandoffError('marker_path %s is the same path as path; the marker must be a file of its own'
                               % self.marker_path)
        check_planned_files([PlannedFile('path', self.path, False), PlannedFile('marker_path', self.marker_path, False)])

    def _look(self, hash_cache):
        """Return ``(done, observation-or-None, reason)`` for the wanted state."""
        if self.params['state'] == 'absent':
            if os.path.lexists(self.marker_path):
                return False, None, 'marker %s is still present (not consumed yet)' % self.marker_path
            return True, None, 'marker %s is absent' % self.marker_path
        seen = observe(self.path, self.marker_path, self.params['verify_checksum'],
                       self.params['require_checksum'], self.params['newer_than_generation'], hash_cache)
        if seen.status == FAILED:
            raise HandoffError(seen.reason, path=self.path, marker_path=self.marker_path,
                               marker=seen.marker.to_dict(), elapsed=round(time.monotonic() - self.started, 3))
        if seen.status == READY or seen.marker is not None or not self.stability.wanted:
            return seen.status == READY, seen, seen.reason
        return self.stability.judge(self.path)

    def run(self):
        """Wait until the wanted state holds; return the result dict, or raise at the timeout.

        In check mode, look once and report a state that does not hold yet
        instead of failing; a failed marker still fails.
        """
        try:
            remote = mirrored_wait(dict(self.params, timeout=self.timeout))
            if remote is not None:
                return remote.run()
            return self._wait()
        except NotYet as exc:
            if not self.check_mode:
                raise
            result = self._result(None, 0.0, None)
            result.update(exc.details)
            result['msg'] = ('check mode looks once instead of waiting (a real run waits up to %ss): %s'
                             % (self.params['timeout'], exc.reason))
            return result

    def _wait(self):
        self._check_options()
        started = self.started = time.monotonic()
        deadline = started + self.timeout
        hash_cache = HashCache()
        directories = {os.path.dirname(os.path.abspath(p)) for p in (self.path, self.marker_path)}
        with DirectoryWatcher(directories) as watcher:
            while True:
                done, seen, reason = self._look(hash_cache)
                if done:
                    return self._result(seen, time.monotonic() - started, watcher.method)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NotYet('timed out after %ss waiting for %s to be %s: %s'
                                 % (self.timeout, self.marker_path, self.params['state'], reason), reason,
                                 path=self.path, marker_path=self.marker_path,
                                 elapsed=round(time.monotonic() - started, 3), watch=watcher.method)
                watcher.wait(min(self.sleep, remaining, self.stability.due_in()))

    def _result(self, seen, elapsed, method):
        result = dict(changed=False, path=self.path, marker_path=self.marker_path,
                      elapsed=round(elapsed, 3), watch=method, marker=None, sha256=None, size=None)
        if seen is None:
            return result
        result.update(sha256=seen.sha256, size=seen.size, ready_by='marker' if seen.marker else 'stability')
        if seen.marker is not None:
            result.update(marker=seen.marker.to_dict(), generation=seen.marker.generation)
        return result


class WaitForEach:
    """A ``wait_for_marker`` task with ``paths``: every path awaited in one module run, with one deadline.

    Each path is judged as a task of its own would judge it; the run ends when
    every path is decided (its wanted state holds, or its producer failed it)
    or at the timeout, and fails naming each path that is not ready. Check mode
    looks once: what the producers would publish, they did not in check mode.
    """

    def __init__(self, module):
        self.params = module.params
        self.check_mode = module.check_mode
        self.waits = [Wait(ModuleForItem(module, dict(path=path))) for path in self.params['paths']]

    def run(self):
        check_distinct([dict(path=wait.path) for wait in self.waits], 'path', 'paths')
        for wait in self.waits:
            wait._check_options()
        deadline = Deadline(0 if self.check_mode else self.params['timeout'])
        results, reasons = {}, {}
        hash_cache = HashCache()
        directories = {os.path.dirname(os.path.abspath(path)) for wait in self.waits
                       for path in (wait.path, wait.marker_path)}
        with DirectoryWatcher(directories) as watcher:
            pending = self.waits
            while True:
                pending = [wait for wait in pending if not self._decided(wait, hash_cache, deadline, watcher.method,
                                                                         results, reasons)]
                if not pending or deadline.remaining <= 0:
                    break
                watcher.wait(min([self.params['sleep'], deadline.remaining] +
                                 [wait.stability.due_in() for wait in pending]))
            for wait in pending:
                results[wait] = self._not_ready(wait, reasons[wait], deadline, watcher.method)
            return self._result([results[wait] for wait in self.waits], deadline, watcher.method)

    def _decided(self, wait, hash_cache, deadline, method, results, reasons):
        """Look at one path; record its result and return True when it is decided."""
        wait.started = deadline.started
        try:
            done, seen, reason = wait._look(hash_cache)
        except HandoffError as exc:
            results[wait] = dict(exc.details, path=wait.path, marker_path=wait.marker_path, status='failed',
                                 failed=True, msg=exc.msg)
            return True
        if not done:
            reasons[wait] = reason
            return False
        results[wait] = dict(wait._result(seen, deadline.elapsed, method), status='ready', failed=False,
                             msg='%s is %s' % (wait.marker_path, self.params['state']))
        return True

    def _not_ready(self, wait, reason, deadline, method):
        result = wait._result(None, deadline.elapsed, method)
        if self.check_mode:
            result.update(status='not_ready', failed=False, msg='check mode looks once: %s; a real run waits up to %ss'
                          % (reason, self.params['timeout']))
        else:
            result.update(status='failed', failed=True, msg='timed out after %ss waiting for %s to be %s: %s'
                          % (self.params['timeout'], wait.marker_path, self.params['state'], reason))
        return result

    def _result(self, results, deadline, method):
        ready = sum(1 for result in results if result['status'] == 'ready')
        summary = '%d of %d path(s) %s' % (ready, len(results), self.params['state'])
        elapsed = round(deadline.elapsed, 3)
        failed = [result for result in results if result['failed']]
        if failed:
            raise HandoffError('%d of %d path(s) not %s (%s): %s' % (
                len(failed), len(results), self.params['state'], summary,
                '; '.join('%s: %s' % (result['path'], result['msg']) for result in failed)),
                results=results, elapsed=elapsed, watch=method)
        return dict(changed=False, msg=summary, results=results, elapsed=elapsed, watch=method)


class Stability:
    """Judges a markerless file by its own history: unchanged for ``stable_for`` s, older than ``min_age`` s.

    Both are measured on the target: ``stable_for`` by this process watching
    (monotonic clock), ``min_age`` against the file's mtime (wall clock).
    """

    def __init__(self, stable_for, min_age):
        self.stable_for = stable_for
        self.min_age = min_age
        self._signature = None
        self._unchanged_since = None
        self._due = None

    @property
    def wanted(self):
        return self.stable_for is not None or self.min_age is not None

    def due_in(self):
        """Seconds until the file could qualify, so the wait wakes for it without an event."""
        if self._due is None:
            return float('inf')
        return max(self._due - time.monotonic(), 0.0)

    def judge(self, path):
        """Return ``(ready, observation-or-None, reason)`` for a file no one marks."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self._signature = self._due = None
            return False, None, 'no marker, and the data file %s does not exist yet' % path
        if not stat.S_ISREG(st.st_mode):
            return False, None, 'data path %s is not a regular file' % path
        now = time.monotonic()
        signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if signature != self._signature:
            self._signature, self._unchanged_since = signature, now
        unchanged = now - self._unchanged_since
        age = time.time() - st.st_mtime
        waits = [(self.stable_for or 0) - unchanged, (self.min_age or 0) - age]
        if max(waits) > 0:
            self._due = now + max(waits)
            return False, None, ('no marker; %s has been unchanged for %.1fs (stable_for=%s) and is %.1fs old '
                                 '(min_age=%s)' % (path, unchanged, self.stable_for, age, self.min_age))
        try:
            sha256, size = sha256_of_path(path, expected=st)
        except (UnsafeFile, FileNotFoundError):
            self._signature = None
            return False, None, '%s was replaced while it was being hashed' % path
        after = os.lstat(path)
        if (after.st_ino, after.st_size, after.st_mtime_ns) != (st.st_ino, size, st.st_mtime_ns):
            self._signature = None
            return False, None, '%s changed while it was being hashed' % path
        return True, Observation(READY, 'no marker; %s is stable' % path, None, sha256, size), 'stable'
