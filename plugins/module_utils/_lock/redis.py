# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lock every host can see: a lease in Redis, renewed while held, with a fencing token.

A kernel lock excludes processes on one machine and dies with its holder. A
lease in Redis excludes processes anywhere, and dies with its holder only by
expiring: so it is short (``lock_lease_ttl``) and a thread renews it while the
work runs. A holder that stalls (SIGSTOP, a frozen VM, a partition) loses its
lease without knowing; the fencing token, a counter incremented at every
acquisition, lets it find out atomically before it publishes, so it cannot
overwrite a newer holder's result.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import HeldLock, LeaseLost, LockKind, LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.owner import boot_id
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import utc_now_rfc3339
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisError, Script
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.settings import redis_lock_settings

_FIRST_RETRY = 0.002
_MAX_RETRY = 0.05

# The lock key holds "<fencing token> <owner JSON with a random nonce>": unique per acquisition,
# so only the holder that set it can renew, release or confirm it.
_ACQUIRE = Script('''
local current = redis.call('GET', KEYS[1])
if current then return {0, current, redis.call('PTTL', KEYS[1])} end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {1, fence}
''')
_RENEW = Script('''
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
''')
_RELEASE = Script('''
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
''')
# Before a holder publishes: its lease must still be the current one, and no newer token may have
# published; then its token becomes the last published one.
_CONFIRM = Script('''
local current = redis.call('GET', KEYS[1])
local published = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= ARGV[1] then return {0, current or false, published} end
if published > tonumber(ARGV[2]) then return {0, current, published} end
redis.call('SET', KEYS[2], ARGV[2])
return {1, current, published}
''')


def lock_keys(prefix, name):
    """``(lease key, fencing counter key, last published token key)`` of the lock called ``name``."""
    return prefix + 'lock:' + name, prefix + 'fence:' + name, prefix + 'published:' + name


def describe_value(value, pttl=None):
    """Who holds a lease, from the lock key's value: 'pid 42 on h1 (module) since ..., fencing token 7'."""
    token, dummy, record = (value or '').partition(' ')
    try:
        owner = json.loads(record)
    except (ValueError, RecursionError):
        owner = {}
    if not isinstance(owner, dict):
        owner = {}
    text = 'held by pid %s on %s (%s) since %s, fencing token %s' % (
        owner.get('pid', '?'), owner.get('host', '?'), owner.get('holder', '?'), owner.get('since', '?'), token)
    if pttl is not None and pttl >= 0:
        text += ', lease expires in %.1fs unless renewed' % (pttl / 1000.0)
    return text


class RedisLease(HeldLock):
    """A lease this process holds; a thread renews it until ``release()``."""

    lock_type = 'redis'

    def __init__(self, server, name, prefix, ttl, connection, value, fencing_token, waited):
        self.server = server
        self.path = name
        self.keys = lock_keys(prefix, name)
        self.ttl_ms = int(ttl * 1000)
        self.fencing_token = fencing_token
        self.waited = waited
        self._connection = connection
        self._value = value
        self._lost = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_released, name='lease-renewal', daemon=True)
        self._renewer.start()

    def where(self):
        """The lock's name and server, for messages."""
        return 'redis lock %s on %s' % (self.keys[0], self.server.describe())

    def _renew_until_released(self):
        """Renew at a third of the TTL; give up once the lease is gone or could not be renewed in time."""
        interval = self.ttl_ms / 3000.0
        renewed_at = time.monotonic()
        connection = None
        while not self._stop.wait(interval):
            try:
                if connection is None:
                    connection = self.server.connect()
                if not _RENEW(connection, self.keys[:1], [self._value, self.ttl_ms]):
                    self._lost = 'at %s the lease was found expired or taken over' % utc_now_rfc3339()
                    break
                renewed_at = time.monotonic()
            except RedisError as exc:
                if connection is not None:
                    connection.close()
                    connection = None
                if time.monotonic() - renewed_at >= self.ttl_ms / 1000.0:
                    self._lost = 'the lease could not be renewed for %.1fs (lock_lease_ttl): %s' % (
                        self.ttl_ms / 1000.0, exc.msg)
                    break
        if connection is not None:
            connection.close()

    def confirm_before_publish(self, target):
        """Right before replacing ``target``: fail unless this lease is current and no newer token published.

        Atomic on the server, so a holder whose lease expired cannot replace a
        newer holder's result; on success this token is the last published one.
        """
        try:
            ok, current, published = _CONFIRM(self._connection, self.keys[::2], [self._value, self.fencing_token])
        except RedisError as exc:
            raise LeaseLost('not replacing %s: cannot confirm the lease on %s (%s); it may have expired, so %s was '
                            'not touched. Re-run the task' % (target, self.where(), exc.msg, target),
                            fencing_token=self.fencing_token)
        if not ok:
            now = describe_value(current) if current else 'free'
            raise LeaseLost('refusing a stale write to %s: the lease on %s with fencing token %d expired or was '
                            'taken over (%s; the lock is now %s; last published token %d). A holder whose lease '
                            'expired must not overwrite a newer holder\'s result, so %s was not touched. Re-run the '
                            'task, and raise lock_lease_ttl if the work outlasts it'
                            % (target, self.where(), self.fencing_token, self._lost or 'no renewal failure seen',
                               now, published, target), fencing_token=self.fencing_token)

    def confirm_held(self, what, details):
        """After work that could not be fenced (a command): fail if the lease was lost while it ran.

        ``details`` (what the work produced: rc, output) go into the error, so that nothing of it is lost.
        """
        try:
            current = self._connection.command('GET', self.keys[0])
        except RedisError as exc:
            current, reason = None, exc.msg
        else:
            reason = self._lost or 'the lease key no longer holds this holder\'s token'
        if current != self._value:
            raise LeaseLost('%s while holding %s with fencing token %d, but the lease was lost before it ended (%s); '
                            'another holder may have run at the same time. Raise lock_lease_ttl, or make the work '
                            'check the fencing token (LOCKSTEP_FENCING_TOKEN)'
                            % (what, self.where(), self.fencing_token, reason),
                            **dict(details, fencing_token=self.fencing_token))

    def release(self):
        """Stop renewing and delete the lease if it is still ours (idempotent)."""
        if self._connection is None:
            return
        self._stop.set()
        self._renewer.join()
        try:
            _RELEASE(self._connection, self.keys[:1], [self._value])
        except RedisError:
            pass  # the lease then expires on its own within lock_lease_ttl
        finally:
            self._connection.close()
            self._connection = None


def _owner_json(holder):
    return json.dumps({'host': socket.gethostname(), 'pid': os.getpid(), 'boot_id': boot_id(),
                       'since': utc_now_rfc3339(), 'holder': holder, 'nonce': secrets.token_hex(8)},
                      sort_keys=True, separators=(',', ':'))


def acquire_lease(server, name, prefix, ttl, timeout, holder=None):
    """Take the lease called ``name`` within ``timeout`` seconds (0: one attempt); return a RedisLease.

    Raises LockTimeout naming the holder when it stays taken, and
    RedisError naming the server when Redis cannot be reached or refuses us.
    """
    started = time.monotonic()
    deadline = started + timeout
    delay = _FIRST_RETRY
    connection = server.connect()
    try:
        while True:
            owner = _owner_json(holder)
            reply = _ACQUIRE(connection, lock_keys(prefix, name)[:2], [owner, int(ttl * 1000)])
            if reply[0] == 1:
                fence = int(reply[1])
                return RedisLease(server, name, prefix, ttl, connection, '%d %s' % (fence, owner), fence,
                                  round(time.monotonic() - started, 3))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(
                    'redis lock %s on %s is %s; waited lock_timeout=%ss. Retry later, raise lock_timeout, or stop '
                    'the holder (a dead holder\'s lease expires by itself)'
                    % (lock_keys(prefix, name)[0], server.describe(), describe_value(reply[1], reply[2]), timeout),
                    lock_path=name, lock_wait=round(time.monotonic() - started, 3))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_RETRY)
    except BaseException:
        connection.close()
        raise


class RedisLeaseKind(LockKind):
    """``redis``: a lease named ``lock_path`` on the Redis server of the ``redis_*`` options; no file is made."""

    is_file_backed = False

    def settings(self, module):
        return dict(redis=redis_lock_settings(module.params))

    def acquire(self, path, timeout, shared=False, holder=None, redis=None):
        """Take the lease ``path`` on the server ``redis`` (RedisLockSettings); a RedisLease."""
        if shared:
            raise HandoffError('lock_type=redis takes exclusive leases only; drop lock_shared, or use a file lock')
        return acquire_lease(redis.server, path, redis.prefix, redis.ttl, timeout, holder)
