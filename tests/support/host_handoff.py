# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Look at a hand-off inside a fleet host, and plant one there the way another producer would.

Reading a data file and its marker takes several system calls, and a publish
may run between them. ``look`` reads marker, data, marker again in one process
on the host and reports whether the two marker reads agree; only such a stable
look may be judged (``stable_look`` retries until one is).
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager

from tests.support.handoff_state import sha256_bytes

_LOOK = r'''
import hashlib, json, os, sys
dest = sys.argv[1]
def read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
before = read(dest + '.done')
data = read(dest)
after = read(dest + '.done')
directory, name = os.path.split(dest)
names = set(os.listdir(directory))
temps = sorted(n for n in names if n.startswith('.%s.' % name) and n.endswith('.tmp'))
known = {name, name + '.done', name + '.lock'} | set(temps)
marker = None
if before:
    marker = json.loads(before)
elif before is not None:
    marker = {'legacy': True}
print(json.dumps({
    'stable': before == after,
    'sha256': None if data is None else hashlib.sha256(data).hexdigest(),
    'size': None if data is None else len(data),
    'marker': marker,
    'temps': temps,
    'strangers': sorted(names - known),
}))
'''


def look(host, dest, user='handoff'):
    """One look at ``dest`` on ``host``: the keys of ``handoff_state.snapshot`` plus ``stable``."""
    return json.loads(host.run('python3 - %s' % dest, user=user, stdin=_LOOK).stdout)


def stable_look(host, dest, timeout=10.0):
    """A look whose two marker reads agree (no publish ran in between), retried until there is one."""
    deadline = time.monotonic() + timeout
    while True:
        state = look(host, dest)
        if state.pop('stable'):
            return state
        assert time.monotonic() < deadline, 'the marker of %s kept changing for %ss' % (dest, timeout)
        time.sleep(0.05)


def marker_bytes(data, generation=1, producer='tests.support.host_handoff'):
    """A protocol v1 marker describing ``data``, as a producer would write it."""
    return json.dumps({
        'protocol': 'lockstep.handoff/1', 'state': 'complete', 'size': len(data),
        'sha256': sha256_bytes(data), 'written_at': '2026-11-23T00:00:00Z',
        'producer': producer, 'generation': generation,
    }, sort_keys=True).encode() + b'\n'


def plant(host, path, data, generation=1):
    """Put ``data`` at ``path`` on ``host`` with a complete marker beside it (data first, marker last)."""
    host.write_bytes(path, data)
    host.write_bytes(path + '.done', marker_bytes(data, generation))


@contextmanager
def scratch_dir(hosts, base, label):
    """A fresh directory ``base/label-<random>`` on every host (group-writable, so the become user
    may write too), removed afterwards as root whatever the test left in it."""
    path = '%s/%s-%s' % (base, label, uuid.uuid4().hex[:8])
    for host in hosts:
        host.run('mkdir -m 2775 %s' % path)
    try:
        yield path
    finally:
        for host in hosts:
            if host.pid is not None:
                host.run('rm -rf %s' % path, user='root', check=False)
