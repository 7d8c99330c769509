# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge a data file against its marker: ready, not yet (and why), or failed.

The waiter asks this until it says ready; the mover asks it once more under
the lock. Both get the same verdicts and the same words for them. A manifest
marker judges a directory: every file it lists must be there and match.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import target_below
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_FAILED, Marker, MarkerError

READY = 'ready'
WAITING = 'waiting'
FAILED = 'failed'


def marker_check_argument_spec():
    """How a consumer judges a marker (the ``marker_check`` doc fragment): the options ``observe`` is called with."""
    return dict(
        marker_path=dict(type='path'),
        verify_checksum=dict(type='bool', default=True),
        require_checksum=dict(type='bool', default=False),
    )


class Observation:
    """One look at a hand-off: ``status`` is READY, WAITING or FAILED; ``reason`` says why.

    ``st`` is the stat of the data file judged READY: a mover takes that inode
    and no other one swapped in since.
    """

    __slots__ = ('status', 'reason', 'marker', 'sha256', 'size', 'st')

    def __init__(self, status, reason, marker=None, sha256=None, size=None, st=None):
        self.status = status
        self.reason = reason
        self.marker = marker
        self.sha256 = sha256
        self.size = size
        self.st = st


class HashCache:
    """Remembers files' sha256 while their inode, size and times stay the same.

    A waiter woken by every event in a busy directory would otherwise re-read
    a large file (or every file of a set) each time.
    """

    def __init__(self):
        self._known = {}

    def sha256(self, path, st):
        """The sha256 of the file ``st`` at ``path``; UnsafeFile when another file is there by now."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._known.get(path)
        if known is None or known[0] != key:
            known = self._known[path] = (key, sha256_of_path(path, expected=st)[0])
        return known[1]


def _hash_or_reason(hash_cache, path, st):
    """``(sha256, None)``, or ``(None, why not)`` when the file was swapped for another or removed meanwhile."""
    try:
        return (hash_cache or HashCache()).sha256(path, st), None
    except UnsafeFile as exc:
        return None, exc.msg
    except FileNotFoundError:
        return None, '%s was removed while it was being judged' % path


def observe(data_path, marker_path, verify_checksum=True, require_checksum=False,
            newer_than_generation=None, hash_cache=None):
    """Look once at ``data_path`` and its marker; return an Observation."""
    try:
        marker = Marker.read(marker_path)
    except MarkerError as exc:
        return Observation(WAITING, exc.msg)
    if marker is not None and marker.state == STATE_FAILED:
        return _producer_verdict(data_path, marker_path, marker, newer_than_generation)
    if marker is not None and marker.is_manifest:
        return _observe_set(data_path, marker_path, marker, verify_checksum, newer_than_generation,
                            hash_cache or HashCache())
    try:
        st = os.lstat(data_path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        return Observation(WAITING, 'data path %s exists but is not a regular file (a symlink, directory or '
                           'device); producers of this protocol publish regular files' % data_path, marker)
    if marker is None:
        if st is None:
            return Observation(WAITING, 'neither the data file %s nor its marker %s exists yet'
                               % (data_path, marker_path))
        return Observation(WAITING, 'data file %s exists but its marker %s does not: the producer is '
                           'still writing, or stopped before marking it complete' % (data_path, marker_path))
    verdict = _producer_verdict(data_path, marker_path, marker, newer_than_generation)
    if verdict is not None:
        return verdict
    if require_checksum and not marker.sha256:
        return Observation(WAITING, 'marker %s has no sha256 (an empty legacy marker?) and '
                           'require_checksum is true' % marker_path, marker)
    if st is None:
        return Observation(WAITING, 'marker %s exists but the data file %s does not' % (marker_path, data_path),
                           marker)
    if marker.size is not None and marker.size != st.st_size:
        return Observation(WAITING, 'size mismatch: marker %s says %d bytes, data file %s has %d'
                           % (marker_path, marker.size, data_path, st.st_size), marker)
    sha256 = marker.sha256
    if verify_checksum and marker.sha256:
        sha256, why_not = _hash_or_reason(hash_cache, data_path, st)
        if why_not:
            return Observation(WAITING, why_not, marker)
        if sha256 != marker.sha256:
            return Observation(WAITING, 'checksum mismatch: marker %s says sha256 %s, data file %s has %s'
                               % (marker_path, marker.sha256, data_path, sha256), marker)
    return Observation(READY, 'marker %s is complete and describes %s' % (marker_path, data_path),
                       marker, sha256, st.st_size, st)


def _producer_verdict(data_path, marker_path, marker, newer_than_generation):
    """FAILED when the producer gave up, WAITING for an old generation, else None (judge the data)."""
    if marker.state == STATE_FAILED:
        return Observation(FAILED, 'the producer marked %s failed: %s (marker %s, written %s by %s)'
                           % (data_path, marker.reason or 'no reason given', marker_path,
                              marker.written_at or 'at an unknown time', marker.producer or 'an unknown producer'),
                           marker)
    if newer_than_generation is not None and (marker.generation or 0) <= newer_than_generation:
        return Observation(WAITING, 'marker %s has generation %s, not newer than %d'
                           % (marker_path, marker.generation, newer_than_generation), marker)
    return None


def _observe_set(directory, marker_path, manifest, verify_checksum, newer_than_generation, hash_cache):
    """Judge the directory a manifest describes: READY when every listed file is there and matches."""
    verdict = _producer_verdict(directory, marker_path, manifest, newer_than_generation)
    if verdict is not None:
        return verdict
    if not os.path.isdir(directory):
        return Observation(WAITING, 'manifest %s describes a set of files, so %s must be their directory, and it %s'
                           % (marker_path, directory, 'is not a directory' if os.path.lexists(directory)
                              else 'does not exist'), manifest)
    for entry in manifest.files:
        seen = observe_entry(directory, entry, marker_path, verify_checksum, hash_cache)
        if seen.status != READY:
            return Observation(WAITING, seen.reason, manifest)
    return Observation(READY, 'manifest %s is complete and describes all %d file(s) in %s'
                       % (marker_path, len(manifest.files), directory), manifest, manifest.sha256, manifest.size)


def observe_entry(directory, entry, marker_path, verify_checksum=True, hash_cache=None):
    """Judge one file of a set against its manifest entry; the Observation carries no marker."""
    try:
        path = target_below(directory, entry.path, create_directories=False)
    except HandoffError as exc:
        return Observation(WAITING, exc.msg)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Observation(WAITING, 'manifest %s lists %s, which does not exist' % (marker_path, path))
    if not stat.S_ISREG(st.st_mode):
        return Observation(WAITING, 'manifest %s lists %s, which is not a regular file (a symlink, directory or '
                           'device)' % (marker_path, path))
    if st.st_size != entry.size:
        return Observation(WAITING, 'size mismatch: manifest %s says %s has %d bytes, it has %d'
                           % (marker_path, path, entry.size, st.st_size))
    sha256 = entry.sha256
    if verify_checksum:
        sha256, why_not = _hash_or_reason(hash_cache, path, st)
        if why_not:
            return Observation(WAITING, why_not)
        if sha256 != entry.sha256:
            return Observation(WAITING, 'checksum mismatch: manifest %s says %s has sha256 %s, it has %s'
                               % (marker_path, path, entry.sha256, sha256))
    return Observation(READY, 'manifest %s describes %s' % (marker_path, path), None, sha256, st.st_size, st)
