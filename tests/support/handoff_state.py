# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a hand-off's files the way an independent observer would, and check protocol invariants."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def snapshot(dest):
    """What is at ``dest`` now: data sha256, parsed marker, temp files, other names in the directory."""
    dest = Path(dest)
    marker_path = Path(str(dest) + '.done')
    data = dest.read_bytes() if dest.exists() else None
    marker_raw = marker_path.read_bytes() if marker_path.exists() else None
    names = set(os.listdir(dest.parent))
    temps = sorted(n for n in names if n.startswith('.%s.' % dest.name) and n.endswith('.tmp'))
    known = {dest.name, marker_path.name, dest.name + '.lock'} | set(temps)
    return {
        'sha256': sha256_bytes(data) if data is not None else None,
        'size': len(data) if data is not None else None,
        'marker': json.loads(marker_raw) if marker_raw and marker_raw.strip() else marker_raw,
        'temps': temps,
        'strangers': sorted(names - known),
    }


def assert_consistent(state, allowed_sha256s):
    """The protocol's promises: dest is absent or one complete version; a marker always matches the data."""
    assert state['sha256'] is None or state['sha256'] in allowed_sha256s, \
        'dest holds a partial or unknown version: %s' % state
    if state['marker'] is not None:
        assert state['sha256'] is not None, 'marker without data: %s' % state
        assert state['marker']['state'] == 'complete', state
        assert state['marker']['sha256'] == state['sha256'], 'marker disagrees with the data: %s' % state
        assert state['marker']['size'] == state['size'], state
    assert state['strangers'] == [], 'unexpected files beside dest: %s' % state['strangers']
