# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A module imports only what the task runs: the Redis client only when a task names Redis.

Each module runs in a process of its own, as on a target, and reports which
of the collection's module_utils it loaded by the time it exited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ansible_collections.lockstep.handoff.plugins.module_utils import _errors

# The directory holding the ansible_collections this test imported from: the bootstrap link
# under pytest, ansible-test's copy under ansible-test units.
COLLECTIONS_ROOT = str(Path(_errors.__file__).parents[5])
MODULE_UTILS = 'ansible_collections.lockstep.handoff.plugins.module_utils.'
REDIS_CLIENT = MODULE_UTILS + '_redis.resp'
REDIS_LEASE = MODULE_UTILS + '_lock.redis'

_DRIVER = '''
import json, runpy, sys
sys.path[:0] = [sys.argv[1]]
module, report = sys.argv[2], sys.argv[3]
sys.argv = [module, sys.argv[4]]
try:
    runpy.run_module('ansible_collections.lockstep.handoff.plugins.modules.' + module, run_name='__main__')
except SystemExit:
    pass
with open(report, 'w') as handle:
    json.dump(sorted(sys.modules), handle)
'''


def run_module(tmp_path, module, **args):
    """``(result, names of the modules loaded)`` of ``module`` run with ``args`` in a fresh interpreter."""
    args_file, report = tmp_path / ('%s-args.json' % module), tmp_path / ('%s-loaded.json' % module)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = {name: value for name, value in os.environ.items() if not name.startswith('LOCKSTEP_REDIS_')}
    done = subprocess.run([sys.executable, '-c', _DRIVER, COLLECTIONS_ROOT, module, str(report), str(args_file)],
                          capture_output=True, text=True, check=False, timeout=60, env=env)
    return json.loads(done.stdout), set(json.loads(report.read_text()))


def test_lock_info_loads_no_lock_kind_and_no_redis(tmp_path):
    result, loaded = run_module(tmp_path, 'lock_info', path=str(tmp_path))
    assert not result.get('failed'), result
    assert MODULE_UTILS + '_lock.info' in loaded
    assert not {REDIS_CLIENT, REDIS_LEASE, MODULE_UTILS + '_lock.kinds'} & loaded


def test_wait_for_marker_without_redis_state_host_does_not_load_the_redis_client(tmp_path):
    (tmp_path / 'x.csv').write_text('data')
    (tmp_path / 'x.csv.done').write_text('')
    result, loaded = run_module(tmp_path, 'wait_for_marker', path=str(tmp_path / 'x.csv'), timeout=0)
    assert result.get('ready_by') == 'marker', result
    assert MODULE_UTILS + '_wait' in loaded
    assert not {REDIS_CLIENT, MODULE_UTILS + '_redis.state'} & loaded


def test_wait_for_marker_with_redis_state_host_loads_it(tmp_path):
    result, loaded = run_module(tmp_path, 'wait_for_marker', path='/srv/x.csv', redis_state_host='web1', timeout=0)
    assert 'redis_state_host needs redis_host' in result['msg']
    assert {REDIS_CLIENT, MODULE_UTILS + '_redis.state'} <= loaded


def test_a_file_lock_does_not_load_the_redis_client(tmp_path):
    result, loaded = run_module(tmp_path, 'locked_command', argv=['true'], lock_path=str(tmp_path / 'x.lock'))
    assert result.get('rc') == 0 and not result.get('failed'), result
    assert MODULE_UTILS + '_lock.kernel' in loaded
    assert not {REDIS_CLIENT, REDIS_LEASE} & loaded


def test_a_redis_lease_loads_the_redis_lock_kind_only(tmp_path):
    result, loaded = run_module(tmp_path, 'locked_command', argv=['true'], lock_path='x', lock_type='redis')
    assert 'lock_type=redis needs redis_host' in result['msg']
    assert {REDIS_CLIENT, REDIS_LEASE} <= loaded
    assert MODULE_UTILS + '_lock.kernel' not in loaded
