# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target side of ``wait_for_marker``: wake on inotify, judge, repeat until the deadline."""

from __future__ import annotations

import os
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._checks import check_non_negative
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._marker import default_marker_path
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import (
    FAILED, READY, HashCache, observe)
from ansible_collections.lockstep.handoff.plugins.module_utils._watch import DirectoryWatcher


class Wait:
    """One ``wait_for_marker`` task on one host."""

    def __init__(self, module):
        params = module.params
        self.params = params
        self.path = params['path']
        self.marker_path = params['marker_path'] or default_marker_path(self.path)
        self.timeout = params['timeout']
        self.sleep = params['sleep']
        self.started = None

    def _check_options(self):
        check_non_negative('timeout', self.timeout, 'look once')
        if self.sleep <= 0:
            raise HandoffError('sleep is %s; it must be more than 0 seconds' % self.sleep)
        if os.path.abspath(self.marker_path) == os.path.abspath(self.path):
            raise HandoffError('marker_path %s is the same path as path; the marker must be a file of its own'
                               % self.marker_path)

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
        return seen.status == READY, seen, seen.reason

    def run(self):
        """Wait until the wanted state holds; return the result dict, or raise at the timeout."""
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
                    raise HandoffError('timed out after %ss waiting for %s to be %s: %s'
                                       % (self.timeout, self.marker_path, self.params['state'], reason),
                                       path=self.path, marker_path=self.marker_path,
                                       elapsed=round(time.monotonic() - started, 3), watch=watcher.method)
                watcher.wait(min(self.sleep, remaining))

    def _result(self, seen, elapsed, method):
        result = dict(changed=False, path=self.path, marker_path=self.marker_path,
                      elapsed=round(elapsed, 3), watch=method, marker=None, sha256=None, size=None)
        if seen is not None:
            result.update(marker=seen.marker.to_dict(), sha256=seen.sha256, size=seen.size,
                          generation=seen.marker.generation)
        return result
