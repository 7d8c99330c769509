# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""lock_type=redis on real hosts: one lease all of them see, expiry of a dead holder, fencing, clear errors.

The fleet's hosts share the machine's network, so each reaches the test's own
redis-server at 127.0.0.1; their files stay their own. Each step waits for a
state seen in Redis or /proc (a lease taken, a process stopped, a lease gone),
never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal

from tests.support.processes import kill_tree
from tests.support.redis_server import free_port

from .harness import DATA_DIR, run_playbook
from .redis_helpers import adhoc_results, redis_args, start_adhoc, stopped, wait_until

PREFIX = 'lockstep:handoff:'


def lease_owner(redis_server, name):
    """``(fencing token, owner record)`` of the lease called ``name``, or None while it is free."""
    value = redis_server.command('GET', PREFIX + 'lock:' + name)
    if value is None:
        return None
    token, owner = value.split(' ', 1)
    return int(token), json.loads(owner)


def test_hosts_take_turns_under_one_redis_lease(fleet, redis_server, shared_dir):
    """Invariant: critical sections on three hosts never overlap, and each holder's token exceeds the last."""
    log = os.path.join(shared_dir, 'critical.log')
    section = 'echo "start $(hostname) $LOCKSTEP_FENCING_TOKEN" >> %s; sleep 0.2; ' \
              'echo "end $(hostname) $LOCKSTEP_FENCING_TOKEN" >> %s' % (log, log)
    run = run_playbook(fleet, '''
- hosts: h1:h2:h3
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Three rounds in the critical section from every host
      lockstep.handoff.locked_command:
        argv: [sh, -c, "{{ section }}"]
        lock_backend: redis
        lock_path: fleet/critical
        lock_timeout: 60
      loop: [1, 2, 3]
    - name: Publish under a lease too
      lockstep.handoff.atomic_upload:
        content: "{{ inventory_hostname }}\\n"
        dest: %s/redis-fenced.txt
        lock: true
        lock_type: redis
        lock_path: fleet/publish
    - name: Move a copy under a lease as well
      lockstep.handoff.locked_move:
        src: %s/redis-fenced.txt
        dest: %s/redis-moved.txt
        marker: keep
        lock_type: redis
        lock_path: fleet/move
      register: moved
    - name: The move was made under a fenced lease
      ansible.builtin.assert:
        that: moved.fencing_token is integer and moved.fencing_token >= 1
''' % (DATA_DIR, DATA_DIR, DATA_DIR), extra_vars={'redis_env': redis_server.env(), 'section': section})
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line.split() for line in open(log).read().splitlines()]
    assert len(lines) == 18, lines
    for start, end in zip(lines[::2], lines[1::2]):
        assert start[0] == 'start' and end[0] == 'end' and start[1:] == end[1:], 'sections overlapped: %s' % lines
    tokens = [int(start[2]) for start in lines[::2]]
    assert tokens == sorted(tokens) and len(set(tokens)) == 9, tokens
    assert sorted(start[1] for start in lines[::2]) == ['h1'] * 3 + ['h2'] * 3 + ['h3'] * 3
    markers = [json.loads(fleet.hosts[h].read_bytes(DATA_DIR + '/redis-fenced.txt.done')) for h in ('h1', 'h2', 'h3')]
    assert [fleet.hosts[h].read_bytes(DATA_DIR + '/redis-moved.txt') for h in ('h1', 'h2', 'h3')] == [
        b'h1\n', b'h2\n', b'h3\n']
    publish_tokens = sorted(marker['fencing_token'] for marker in markers)
    assert len(set(publish_tokens)) == 3 and publish_tokens[0] >= 1, markers
    assert redis_server.command('GET', PREFIX + 'published:fleet/publish') == str(publish_tokens[-1])
    assert redis_server.command('GET', PREFIX + 'fence:fleet/move') == '3'
    assert redis_server.command('KEYS', PREFIX + 'lock:*') == [], 'every lease must be released'


def test_a_killed_holders_lease_expires_and_another_host_proceeds(fleet, redis_server, ansible_cli):
    """Invariant: SIGKILL of the holder leaves its lease to expire after the TTL; then the next host gets it."""
    holder_args = redis_args(redis_server, argv=['sleep', '600'], lock_type='redis', lock_path='fleet/killed',
                             lock_lease_ttl=2)
    holder = start_adhoc(fleet, 'h1', 'lockstep.handoff.locked_command', holder_args)
    try:
        token, owner = wait_until(lambda: lease_owner(redis_server, 'fleet/killed'), 'h1 to take the lease')
        assert owner['host'] == 'h1' and owner['holder'] == 'lockstep.handoff.locked_command'
        kill_tree(owner['pid'])
        assert redis_server.command('PTTL', PREFIX + 'lock:fleet/killed') > 0, 'the lease must outlive its holder'
        took = ansible_cli('h2', '-m', 'lockstep.handoff.locked_command', '-a',
                           redis_args(redis_server, argv=['true'], lock_type='redis', lock_path='fleet/killed',
                                      lock_timeout=30, lock_lease_ttl=2))
        out, dummy = holder.communicate(timeout=60)
    finally:
        holder.kill()
    result = adhoc_results(took.stdout)['h2']
    assert took.returncode == 0, took.stdout
    assert result['fencing_token'] == token + 1 and result['lock_wait'] > 0, result
    assert holder.returncode != 0, out


def test_a_stale_holder_is_refused_after_a_newer_holder_ran(fleet, redis_server, ansible_cli):
    """Invariant: a holder stalled past its lease (its process stopped) cannot report success after a newer holder."""
    stalled = start_adhoc(fleet, 'h1', 'lockstep.handoff.locked_command', redis_args(
        redis_server, argv=['sh', '-c', 'kill -STOP $PPID; echo late write'], lock_type='redis',
        lock_path='fleet/stale', lock_lease_ttl=1))
    try:
        token, owner = wait_until(lambda: lease_owner(redis_server, 'fleet/stale'), 'h1 to take the lease')
        wait_until(lambda: stopped(owner['pid']), 'the holder to stop itself')
        wait_until(lambda: lease_owner(redis_server, 'fleet/stale') is None, 'the stalled lease to expire')
        newer = ansible_cli('h2', '-m', 'lockstep.handoff.locked_command', '-a',
                            redis_args(redis_server, argv=['true'], lock_type='redis', lock_path='fleet/stale'))
        os.kill(owner['pid'], signal.SIGCONT)
        out, dummy = stalled.communicate(timeout=60)
    finally:
        stalled.kill()
    assert newer.returncode == 0 and adhoc_results(newer.stdout)['h2']['fencing_token'] == token + 1, newer.stdout
    result = adhoc_results(out)['h1']
    assert 'h1 | FAILED!' in out and result['fencing_token'] == token, out
    assert result['rc'] == 0 and result['stdout'] == 'late write', 'what the command did must be reported: %s' % out
    assert 'sh ran (rc 0) while holding redis lock %slock:fleet/stale' % PREFIX in result['msg']
    assert 'with fencing token %d, but the lease was lost before it ended' % token in result['msg']


def test_redis_faults_fail_with_the_server_named(fleet, redis_server):
    """Invariant: wrong password, no server, no host - each fails at once, naming the server or the option."""
    down_port = free_port()
    run = run_playbook(fleet, '''
- hosts: h1
  gather_facts: false
  tasks:
    - name: Wrong password
      lockstep.handoff.locked_command:
        argv: ["true"]
        lock_type: redis
        lock_path: fleet/x
        redis_host: 127.0.0.1
        redis_port: "{{ port }}"
        redis_password: "{{ wrong_password }}"
      ignore_errors: true
    - name: Nothing listening
      lockstep.handoff.locked_move:
        src: /srv/handoff/absent
        dest: /srv/handoff/absent.out
        lock_type: redis
        redis_host: 127.0.0.1
        redis_port: "{{ down_port }}"
      ignore_errors: true
    - name: No host given
      lockstep.handoff.locked_command:
        argv: ["true"]
        lock_type: redis
        lock_path: fleet/x
      ignore_errors: true
''', extra_vars={'port': redis_server.port, 'down_port': down_port, 'wrong_password': 'not-the-password'})
    messages = [json.loads(line)['msg'] for line in re.findall(r'^fatal: \[h1\]: FAILED! => (.*)$', run.stdout, re.M)]
    assert len(messages) == 3, run.stdout
    assert messages[0].startswith('Redis at redis://127.0.0.1:%d/0 refused the login: WRONGPASS' % redis_server.port)
    assert 'not-the-password' not in run.stdout
    assert messages[1].startswith('cannot connect to Redis at redis://127.0.0.1:%d/0: Connection refused' % down_port)
    assert messages[2].startswith('lock_type=redis needs redis_host')
