# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state of a hand-off mirrored in Redis, for consumers that cannot see the producer's files.

Each published file (inventory host + path) has a Redis stream; every entry is
one state - ``running`` (a publish is under way), ``complete`` or ``failed``
with the marker - and the newest entry is the current state. A waiter reads
the newest entry, then blocks in ``XREAD`` for the next one after exactly that
entry: nothing published in between is missed, and nothing polls.

The marker file on the host stays the source of truth; the stream mirrors it.
A producer mirrors what its marker file says after each phase, and a re-run
that finds the data in place mirrors the marker again when the stream
disagrees, so the mirror converges on the file.
"""

from __future__ import annotations

import json
import socket
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import check_absolute
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError, NotYet
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    STATE_COMPLETE, STATE_FAILED, Marker, MarkerError, utc_now_rfc3339)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LeaseLost
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.settings import redis_server
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisError, RedisUnavailable, Script
from ansible_collections.lockstep.handoff.plugins.module_utils._state_mirror import MirroredWait, PublishMirror
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ABORT, ACTION, ACTION_TRANSFER, INLINE, PROBE, PUBLISH, REASON)

STATE_RUNNING = 'running'
STREAM_LENGTH = 32
_MAX_RECONNECT_DELAY = 1.0

# Append a state unless the stream already holds a newer generation: a producer that mirrors late (its
# file was replaced meanwhile) must not make the mirror go back in time.
_RECORD = Script('''
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  local fields = last[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'generation' and tonumber(fields[i + 1]) > tonumber(ARGV[2]) then return false end
  end
end
return redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 'state', ARGV[1], 'generation', ARGV[2],
                  'marker', ARGV[3], 'recorded_at', ARGV[5])
''')


def state_key(prefix, host, path):
    """The stream holding the states of ``path`` on inventory host ``host``."""
    return '%sstate:%s:%s' % (prefix, host, path)


def _entry(raw):
    """An XRANGE/XREAD entry ``[id, [field, value, ...]]`` as ``(id, {field: value})``."""
    entry_id, fields = raw
    return entry_id, dict(zip(fields[::2], fields[1::2]))


def latest_state(connection, key):
    """``(entry id, fields)`` of the newest state, or ``(None, None)`` when none was recorded."""
    newest = connection.command('XREVRANGE', key, '+', '-', 'COUNT', 1)
    return _entry(newest[0]) if newest else (None, None)


class PublishStateMirror(PublishMirror):
    """What ``atomic_upload`` with ``redis_state`` records for one ``dest``."""

    def __init__(self, params, host, marker_path):
        self.server = redis_server(params, 'redis_state')
        self.key = state_key(params['redis_key_prefix'], host or socket.gethostname(), params['dest'])
        self.marker_path = marker_path

    def _record(self, connection, state, generation, marker_json):
        _RECORD(connection, [self.key], [state, generation, marker_json, STREAM_LENGTH, utc_now_rfc3339()])

    def _marker(self):
        try:
            return Marker.read(self.marker_path)
        except MarkerError:
            return None

    def _mirror_file(self, connection, reason=None):
        """Record what the marker file says; with no marker, a failure ``reason`` as a failed state."""
        marker = self._marker()
        if marker is not None:
            document = '' if marker.legacy else json.dumps(marker.to_dict(), sort_keys=True)
            dummy, newest = latest_state(connection, self.key)
            if newest is None or (newest['state'], newest['marker']) != (marker.state, document):
                self._record(connection, marker.state, marker.generation or 0, document)
        elif reason is not None:
            failed = Marker(STATE_FAILED, written_at=utc_now_rfc3339(), reason=reason)
            self._record(connection, STATE_FAILED, 0, json.dumps(failed.to_dict(), sort_keys=True))

    def after_phase(self, phase, result):
        """Mirror a phase that ended normally: a transfer about to start is ``running``, anything else the file."""
        try:
            with self.server.connect() as connection:
                if phase == PROBE and result.get(ACTION) == ACTION_TRANSFER:
                    marker = self._marker()
                    self._record(connection, STATE_RUNNING, (marker.generation or 0) if marker else 0, '')
                else:
                    self._mirror_file(connection, result.get(REASON) if phase == ABORT else None)
        except RedisError as exc:
            published = '%s was published and marked' % result['dest']
            done = {PROBE: 'nothing was transferred', PUBLISH: published, INLINE: published,
                    ABORT: 'the transfer had failed'}[phase]
            raise HandoffError('%s, but its state could not be recorded in Redis: %s. Consumers waiting on the '
                               'Redis state do not see it; re-run the task once Redis is back, which records it'
                               % (done, exc.msg), redis_state_key=self.key,
                               **{key: value for key, value in result.items() if key != 'msg'})
        result['redis_state_key'] = self.key

    def after_failure(self, error):
        """Mirror a failed phase (the failed marker, or the reason); return a sentence when Redis failed too.

        A stale lease holder records nothing: a newer holder owns the file and its state.
        """
        if isinstance(error, LeaseLost):
            return ''
        try:
            with self.server.connect() as connection:
                self._mirror_file(connection, error.msg)
        except RedisError as exc:
            return 'The failure could not be recorded in Redis either: %s' % exc.msg
        return ''


class StateWait(MirroredWait):
    """``wait_for_marker`` with ``redis_state_host``: wait for the Redis state of a file on another host."""

    def __init__(self, params):
        self.params = params
        self.host = params['redis_state_host']
        self.path = params['path']
        self.server = redis_server(params, 'redis_state_host')
        self.key = state_key(params['redis_key_prefix'], self.host, self.path)
        self.timeout = params['timeout']
        self.reconnects = 0
        self.last_reason = 'nothing was read yet'

    def _check_options(self):
        check_absolute('path', self.path)  # the producer's dest, which is absolute, names the state
        unsupported = [option for option in ('stable_for', 'min_age') if self.params[option] is not None]
        if self.params['state'] != 'present':
            unsupported.append('state=%s' % self.params['state'])
        if unsupported:
            raise HandoffError('%s cannot be judged from the Redis state (it mirrors markers, not the file); drop '
                               'redis_state_host to watch the file on its own host' % ', '.join(unsupported))

    def _where(self):
        return '%s:%s in Redis at %s (key %s)' % (self.host, self.path, self.server.describe(), self.key)

    def _judge(self, fields):
        """``(marker or None, why not yet)``; raises at once for a failed producer."""
        if fields is None:
            return None, 'no state recorded yet for %s' % self._where()
        if fields['state'] == STATE_RUNNING:
            return None, 'the producer is publishing %s (running since %s)' % (self._where(), fields.get('recorded_at'))
        marker = Marker.parse(fields['marker'].encode('utf-8'), self._where())
        if marker.state == STATE_FAILED:
            raise HandoffError('the producer marked %s failed: %s (written %s by %s)'
                               % (self._where(), marker.reason or 'no reason given', marker.written_at or '?',
                                  marker.producer or 'an unknown producer'),
                               path=self.path, redis_state_key=self.key, marker=marker.to_dict())
        newer_than = self.params['newer_than_generation']
        if newer_than is not None and (marker.generation or 0) <= newer_than:
            return None, ('the state of %s has generation %s, not newer than %d'
                          % (self._where(), marker.generation, newer_than))
        if self.params['require_checksum'] and not marker.sha256:
            return None, 'the state of %s has no sha256 and require_checksum is true' % self._where()
        if marker.state != STATE_COMPLETE:
            return None, 'the state of %s is %s' % (self._where(), marker.state)
        return marker, None

    def run(self):
        """Wait until a complete state is recorded; reconnect (until the timeout) when Redis goes away."""
        self._check_options()
        started = time.monotonic()
        deadline = started + self.timeout
        lost = None
        delay = 0.05
        while True:
            try:
                with self.server.connect() as connection:
                    marker = self._follow(connection, deadline)
                    return self._result(marker, time.monotonic() - started)
            except RedisUnavailable as exc:
                lost = exc.msg
            except _Deadline:
                lost = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = self.last_reason + ('; Redis could not be reached again: %s' % lost if lost else '')
                raise NotYet('timed out after %ss waiting for %s to be complete: %s'
                             % (self.timeout, self._where(), reason), reason,
                             path=self.path, redis_state_key=self.key, redis_reconnects=self.reconnects,
                             elapsed=round(time.monotonic() - started, 3))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_RECONNECT_DELAY)
            self.reconnects += 1

    def _follow(self, connection, deadline):
        """Judge the newest state, then each newer one as XREAD delivers it; return the complete marker."""
        entry_id, fields = latest_state(connection, self.key)
        while True:
            marker, self.last_reason = self._judge(fields)
            if marker is not None:
                return marker
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Deadline()
            reply = connection.command('XREAD', 'BLOCK', max(int(remaining * 1000), 1), 'STREAMS', self.key,
                                       entry_id or '0-0', timeout=remaining + self.server.timeout)
            if reply:
                entry_id, fields = _entry(reply[0][1][-1])

    def _result(self, marker, elapsed):
        return dict(changed=False, path=self.path, marker_path=None, elapsed=round(elapsed, 3), watch='redis',
                    marker=marker.to_dict(), sha256=marker.sha256, size=marker.size, ready_by='marker',
                    generation=marker.generation, redis_state_key=self.key, redis_reconnects=self.reconnects)


class _Deadline(Exception):
    """The timeout passed while following the stream."""
