# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis leases against a real redis-server and real processes: exclusion, expiry, renewal, fencing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._lock import redis as _redis_lock_module
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LeaseLost, LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.redis import lock_keys
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.settings import RedisLockSettings

PREFIX = 'test:'

# A holder in its own process: takes the lease, says so, then publishes when told (a line on stdin).
_HOLDER = '''
import sys
sys.path[:0] = [sys.argv[1]]
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.redis import acquire_lease
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisServer
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
lease = acquire_lease(RedisServer('127.0.0.1', int(sys.argv[2]), password=sys.argv[3]), 'x.lock', 'test:',
                      float(sys.argv[4]), 0, holder='stale-holder')
print(lease.fencing_token, flush=True)
sys.stdin.readline()
try:
    lease.confirm_before_publish('/srv/x')
except HandoffError as exc:
    print('REFUSED ' + exc.msg, flush=True)
else:
    print('PUBLISHED', flush=True)
'''


# The directory holding the ansible_collections this test imported from: the bootstrap link
# under pytest, ansible-test's copy under ansible-test units.
COLLECTIONS_ROOT = str(Path(_redis_lock_module.__file__).parents[6])


def start_holder(redis_server, ttl):
    """A real process holding the lease 'x.lock'; returns it and its fencing token."""
    holder = subprocess.Popen([sys.executable, '-c', _HOLDER, COLLECTIONS_ROOT, str(redis_server.port),
                               redis_server.password, str(ttl)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return holder, int(holder.stdout.readline())


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met within %ss' % timeout
        time.sleep(0.01)


def lease(redis_server, timeout=0.0, ttl=5.0, holder='test'):
    return acquire('x.lock', timeout, lock_type='redis', holder=holder,
                   redis=RedisLockSettings(redis_server.server, PREFIX, ttl))


def test_a_lease_excludes_until_released_and_tokens_increase(redis_server):
    first = lease(redis_server)
    with pytest.raises(LockTimeout) as caught:
        lease(redis_server, timeout=0.1)
    assert 'redis lock test:lock:x.lock on redis://127.0.0.1:%d/0 is held by pid %d on' % (
        redis_server.port, os.getpid()) in caught.value.msg
    assert '(test)' in caught.value.msg and 'fencing token %d' % first.fencing_token in caught.value.msg
    assert caught.value.details['lock_wait'] >= 0.1
    first.release()
    assert redis_server.command('EXISTS', 'test:lock:x.lock') == 0
    with lease(redis_server) as second:
        assert second.fencing_token == first.fencing_token + 1


def test_shared_leases_are_refused(redis_server):
    with pytest.raises(HandoffError, match='exclusive leases only'):
        acquire('x.lock', 0, lock_type='redis', shared=True, redis=RedisLockSettings(redis_server.server, PREFIX, 5))


def test_the_lease_is_renewed_while_held(redis_server):
    with lease(redis_server, ttl=0.6) as held:
        time.sleep(1.5)  # the work: longer than the TTL, so only renewal keeps the lease
        assert redis_server.command('PTTL', 'test:lock:x.lock') > 0
        held.confirm_before_publish('/srv/x')
        held.confirm_held('work', {})


def test_a_killed_holders_lease_expires_and_the_next_holder_proceeds(redis_server):
    holder, token = start_holder(redis_server, ttl=1.0)
    holder.kill()
    holder.wait()
    assert redis_server.command('PTTL', 'test:lock:x.lock') > 0, 'the lease must outlive its killed holder'
    with lease(redis_server, timeout=10) as next_holder:
        assert next_holder.fencing_token == token + 1
        assert next_holder.waited > 0


def test_a_stale_holders_late_write_is_refused(redis_server):
    holder, token = start_holder(redis_server, ttl=0.5)
    try:
        os.kill(holder.pid, signal.SIGSTOP)  # a GC pause, a frozen VM: no renewal either
        wait_until(lambda: redis_server.command('EXISTS', 'test:lock:x.lock') == 0)
        with lease(redis_server) as newer:
            newer.confirm_before_publish('/srv/x')
        os.kill(holder.pid, signal.SIGCONT)
        out, dummy = holder.communicate('go\n', timeout=10)
    finally:
        holder.kill()
    assert out.startswith('REFUSED refusing a stale write to /srv/x: the lease on redis lock test:lock:x.lock')
    assert 'fencing token %d expired or was taken over' % token in out
    assert 'last published token %d' % newer.fencing_token in out and '/srv/x was not touched' in out
    assert redis_server.command('GET', 'test:published:x.lock') == str(newer.fencing_token)


def test_an_older_token_cannot_publish_after_a_newer_one(redis_server):
    older = lease(redis_server)
    redis_server.command('SET', lock_keys(PREFIX, 'x.lock')[2], older.fencing_token + 5)
    with pytest.raises(LeaseLost, match='last published token %d' % (older.fencing_token + 5)):
        older.confirm_before_publish('/srv/x')
    older.release()


def test_a_lease_lost_while_the_work_ran_is_reported(redis_server):
    held = lease(redis_server, ttl=5)
    redis_server.command('DEL', 'test:lock:x.lock')
    with pytest.raises(LeaseLost, match='sleep ran while holding redis lock .* but the lease was lost'):
        held.confirm_held('sleep ran', {'rc': 0})
    held.release()


def test_the_owner_record_says_who_holds_the_lease(redis_server):
    with lease(redis_server, holder='lockstep.handoff.locked_command') as held:
        token, owner = redis_server.command('GET', 'test:lock:x.lock').split(' ', 1)
    assert int(token) == held.fencing_token
    owner = json.loads(owner)
    assert owner['pid'] == os.getpid() and owner['holder'] == 'lockstep.handoff.locked_command'
