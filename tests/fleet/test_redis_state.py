# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hand-off state in Redis on real hosts: a consumer on another host waits for a file it cannot see.

The waiter is known to be blocked in Redis (CLIENT LIST shows its XREAD) before
the producer publishes or Redis is restarted, so no step depends on timing.
"""

from __future__ import annotations

import hashlib
import json

from .harness import DATA_DIR, run_playbook
from .redis_helpers import adhoc_results, redis_args, start_adhoc, wait_until

PREFIX = 'lockstep:handoff:'

PUBLISH = '''
- hosts: h1
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Publish and mirror the state
      lockstep.handoff.atomic_upload:
        content: "{{ payload }}"
        dest: "{{ dest }}"
        redis_state: true
'''


def publish(fleet, redis_server, dest, payload):
    """atomic_upload of ``payload`` to ``dest`` on h1, with its state mirrored to the test's Redis."""
    return run_playbook(fleet, PUBLISH, extra_vars=dict(redis_env=redis_server.env(), dest=dest, payload=payload))


def start_waiter(fleet, redis_server, path, **args):
    """wait_for_marker on h2 for ``path`` on h1, in the background; returns once it blocks in Redis."""
    waiter = start_adhoc(fleet, 'h2', 'lockstep.handoff.wait_for_marker',
                         redis_args(redis_server, path=path, redis_state_host='h1', **args))
    wait_until(lambda: waiter.poll() is not None or 'cmd=xread' in redis_server.command('CLIENT', 'LIST'),
               'the waiter to block in XREAD')
    assert waiter.poll() is None, waiter.communicate()[0]
    return waiter


def states(redis_server, path):
    """The recorded states of ``path`` on h1, oldest first."""
    entries = redis_server.command('XRANGE', '%sstate:h1:%s' % (PREFIX, path), '-', '+')
    return [dict(zip(fields[::2], fields[1::2]))['state'] for dummy, fields in entries]


def test_a_consumer_on_another_host_waits_for_the_mirrored_state(fleet, redis_server):
    """Invariant: the waiter on h2 wakes when h1 publishes, with h1's checksum; a failed publish fails a waiter
    (here on the controller) at once."""
    path, failing = DATA_DIR + '/state-a.txt', DATA_DIR + '/state-b.txt'
    waiter = start_waiter(fleet, redis_server, path, timeout=120)
    try:
        published = run_playbook(fleet, '''
- hosts: h1
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Publish and mirror the state
      lockstep.handoff.atomic_upload:
        content: "payload\\n"
        dest: "{{ path }}"
        redis_state: true
    - name: A publish that fails validation
      lockstep.handoff.atomic_upload:
        content: "bad\\n"
        dest: "{{ failing }}"
        redis_state: true
        validate: "false %s"
      ignore_errors: true
''', extra_vars=dict(redis_env=redis_server.env(), path=path, failing=failing))
        out, dummy = waiter.communicate(timeout=120)
    finally:
        waiter.kill()
    assert published.returncode == 0 and published.recap['h1']['ignored'] == 1, published.stdout
    result = adhoc_results(out)['h2']
    assert result['sha256'] == hashlib.sha256(b'payload\n').hexdigest() and result['size'] == 8, out
    assert result['generation'] == 1 and result['watch'] == 'redis' and result['redis_reconnects'] == 0, out
    assert result['marker'] == json.loads(fleet.hosts['h1'].read_bytes(path + '.done'))
    assert states(redis_server, path) == ['running', 'complete']
    assert not fleet.hosts['h2'].exists(path), 'the consumer host never had the file: it waited on Redis alone'

    on_controller = start_adhoc(fleet, 'localhost', 'lockstep.handoff.wait_for_marker', redis_args(
        redis_server, path=failing, redis_state_host='h1', timeout=120)).communicate(timeout=120)[0]
    message = adhoc_results(on_controller)['localhost']['msg']
    assert message.startswith('the producer marked h1:%s in Redis at redis://127.0.0.1:%d/0'
                              % (failing, redis_server.port)), message
    assert "validate command 'false" in message


def test_redis_restarted_mid_wait_loses_nothing(fleet, redis_server):
    """Invariant: a waiter whose Redis restarts reconnects, keeps what was recorded, and sees the next publish."""
    path = DATA_DIR + '/state-restart.txt'
    assert publish(fleet, redis_server, path, 'first\n').returncode == 0
    waiter = start_waiter(fleet, redis_server, path, timeout=120, newer_than_generation=1)
    try:
        redis_server.restart()
        assert states(redis_server, path) == ['running', 'complete'], 'the restart lost recorded states'
        published = publish(fleet, redis_server, path, 'second\n')
        out, dummy = waiter.communicate(timeout=120)
    finally:
        waiter.kill()
    assert published.returncode == 0, published.stdout
    result = adhoc_results(out)['h2']
    assert result['generation'] == 2 and result['sha256'] == hashlib.sha256(b'second\n').hexdigest(), out
    assert result['redis_reconnects'] >= 1, out


def test_redis_down_for_the_rest_of_the_wait_names_the_server(fleet, redis_server):
    """Invariant: when Redis does not come back within the timeout, the waiter fails naming the server and why."""
    path = DATA_DIR + '/state-down.txt'
    waiter = start_waiter(fleet, redis_server, path, timeout=4)
    redis_server.kill()
    out, dummy = waiter.communicate(timeout=60)
    message = adhoc_results(out)['h2']['msg']
    where = 'redis://127.0.0.1:%d/0' % redis_server.port
    assert message.startswith('timed out after 4.0s waiting for h1:%s in Redis at %s' % (path, where)), message
    assert 'Redis could not be reached again: cannot connect to Redis at %s: Connection refused' % where in message
    producer = publish(fleet, redis_server, path, 'data\n')
    assert producer.returncode != 0
    assert 'nothing was transferred, but its state could not be recorded in Redis: cannot connect to Redis at %s' \
        % where in producer.stdout, producer.stdout
    assert not fleet.hosts['h1'].exists(path)
