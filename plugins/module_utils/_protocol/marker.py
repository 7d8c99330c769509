# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The done marker of protocol v1: one small JSON object, or an empty legacy file.

A marker exists only once the data it describes is complete and durable, so
its content is the producer's statement of what a consumer may take. A
manifest marker (with a ``files`` list) describes a whole directory of files.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import write_bytes_durably
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import (
    entries_from_list, entries_to_list, set_digest)

PROTOCOL = 'lockstep.handoff/1'
MAX_MARKER_BYTES = 64 * 1024
# A manifest lists every file of a set (about 130 bytes each): room for ~120,000 files.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
STATE_COMPLETE = 'complete'
STATE_FAILED = 'failed'
_SHA256 = re.compile(r'[0-9a-f]{64}')


class MarkerError(HandoffError):
    """A marker file exists but cannot be taken as a protocol v1 marker."""


def utc_now_rfc3339():
    """The current UTC time as RFC 3339 with a ``Z`` suffix, second precision."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class Marker:
    """A parsed marker. ``legacy`` is true for an empty file (``touch NAME.done``).

    ``files`` is None for the marker of one file, and a sorted tuple of
    FileEntry for a manifest; a manifest's ``sha256`` and ``size`` are then
    those of the whole set (``set_digest``).
    """

    __slots__ = ('state', 'sha256', 'size', 'written_at', 'producer', 'generation', 'reason', 'legacy', 'files',
                 'fencing_token')

    def __init__(self, state, sha256=None, size=None, written_at=None, producer=None,
                 generation=None, reason=None, legacy=False, files=None, fencing_token=None):
        self.state = state
        self.sha256 = sha256
        self.size = size
        self.written_at = written_at
        self.producer = producer
        self.generation = generation
        self.reason = reason
        self.legacy = legacy
        self.files = files
        self.fencing_token = fencing_token

    @classmethod
    def complete(cls, sha256, size, producer, generation, fencing_token=None):
        """A fresh ``complete`` marker for data that was just published (under a lease: its fencing token)."""
        return cls(STATE_COMPLETE, sha256=sha256, size=size, written_at=utc_now_rfc3339(),
                   producer=producer, generation=generation, fencing_token=fencing_token)

    @classmethod
    def complete_set(cls, entries, producer, generation, fencing_token=None):
        """A fresh ``complete`` manifest marker for a set of files that was just published (under a lease: its token)."""
        sha256, size = set_digest(entries)
        return cls(STATE_COMPLETE, sha256=sha256, size=size, written_at=utc_now_rfc3339(),
                   producer=producer, generation=generation, files=tuple(sorted(entries)), fencing_token=fencing_token)

    @property
    def is_manifest(self):
        """True for a manifest marker (one marker for a set of files)."""
        return self.files is not None

    @classmethod
    def failed(cls, reason, producer, generation):
        """A ``failed`` marker: the producer gave up, and consumers should stop waiting."""
        return cls(STATE_FAILED, written_at=utc_now_rfc3339(), producer=producer, generation=generation,
                   reason=reason)

    @classmethod
    def parse(cls, raw, path):
        """Parse marker bytes read from ``path``; raise MarkerError naming what is wrong."""
        if len(raw) > MAX_MANIFEST_BYTES or (len(raw) > MAX_MARKER_BYTES and b'"files"' not in raw):
            raise MarkerError('marker %s is %d bytes; a protocol v1 marker is at most %d bytes (a manifest '
                              'marker, one with "files", at most %d)'
                              % (path, len(raw), MAX_MARKER_BYTES, MAX_MANIFEST_BYTES), marker_path=path)
        if not raw.strip():
            return cls(STATE_COMPLETE, legacy=True)
        try:
            doc = json.loads(raw.decode('utf-8'), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MarkerError('marker %s is neither empty nor JSON (%s); a protocol v1 marker is '
                              'one JSON object, or an empty file' % (path, exc), marker_path=path)
        except RecursionError:
            raise MarkerError('marker %s nests JSON deeper than Python can parse; a protocol v1 marker is one '
                              'flat JSON object (only "files" holds a list of flat objects)' % path,
                              marker_path=path)
        if not isinstance(doc, dict):
            raise MarkerError('marker %s holds JSON %s, not an object' % (path, type(doc).__name__),
                              marker_path=path)
        marker = cls._from_document(doc, path)
        nested = sorted(key for key, value in doc.items() if key != 'files' and isinstance(value, (dict, list)))
        if nested:
            raise MarkerError('marker %s: field %r holds an object or list; a protocol v1 marker is a flat object '
                              '(only a manifest\'s "files" is a list)' % (path, nested[0]), marker_path=path)
        if len(raw) > MAX_MARKER_BYTES and not marker.is_manifest:
            raise MarkerError('marker %s is %d bytes; a protocol v1 marker is at most %d bytes (only a manifest '
                              'marker, one with "files", may be larger)' % (path, len(raw), MAX_MARKER_BYTES),
                              marker_path=path)
        return marker

    @classmethod
    def _from_document(cls, doc, path):
        def bad(field, expected):
            return MarkerError('marker %s: field %r is %r; expected %s'
                               % (path, field, doc.get(field), expected), marker_path=path)

        if doc.get('protocol') != PROTOCOL:
            raise bad('protocol', repr(PROTOCOL))
        state = doc.get('state')
        if state not in (STATE_COMPLETE, STATE_FAILED):
            raise bad('state', '%r or %r' % (STATE_COMPLETE, STATE_FAILED))
        sha256 = doc.get('sha256')
        if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
            raise bad('sha256', '64 lowercase hex digits')
        for field in ('size', 'generation', 'fencing_token'):
            value = doc.get(field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise bad(field, 'a non-negative integer')
        for field in ('written_at', 'producer', 'reason'):
            value = doc.get(field)
            if value is not None and not isinstance(value, str):
                raise bad(field, 'a string')
        files = cls._files_of(doc, path) if 'files' in doc else None
        return cls(state, sha256=sha256, size=doc.get('size'), written_at=doc.get('written_at'),
                   producer=doc.get('producer'), generation=doc.get('generation'),
                   reason=doc.get('reason'), files=files, fencing_token=doc.get('fencing_token'))

    @staticmethod
    def _files_of(doc, path):
        """A manifest's entries, checked against its ``sha256`` and ``size`` (those of the whole set)."""
        try:
            entries = entries_from_list(doc['files'], 'manifest marker %s' % path)
        except HandoffError as exc:
            raise MarkerError(exc.msg, marker_path=path)
        sha256, size = set_digest(entries)
        if (doc.get('sha256'), doc.get('size')) != (sha256, size):
            raise MarkerError('manifest marker %s says sha256 %s and size %s, but its file list has sha256 %s '
                              '(of the list in sha256sum format) and size %d; the manifest is inconsistent'
                              % (path, doc.get('sha256'), doc.get('size'), sha256, size), marker_path=path)
        return entries

    @classmethod
    def read(cls, path):
        """Read and parse the marker at ``path``; None when there is none (see ``read_marker_bytes``)."""
        found = read_marker_bytes(path)
        return None if found is None else cls.parse(found[0], path)

    def to_dict(self):
        """The marker as a result value (legacy markers say so)."""
        if self.legacy:
            return {'state': self.state, 'legacy': True}
        doc = {'protocol': PROTOCOL, 'state': self.state}
        for field in ('size', 'sha256', 'written_at', 'producer', 'generation', 'reason', 'fencing_token'):
            value = getattr(self, field)
            if value is not None:
                doc[field] = value
        if self.files is not None:
            doc['files'] = entries_to_list(self.files)
        return doc

    def to_bytes(self):
        """The marker file content: compact, sorted, newline-terminated JSON."""
        return (json.dumps(self.to_dict(), sort_keys=True, separators=(',', ':')) + '\n').encode('utf-8')

    def describes(self, sha256, size):
        """True when this is a complete marker whose checksum and size match the given data."""
        return (self.state == STATE_COMPLETE and self.sha256 == sha256
                and (self.size is None or self.size == size))

    def describes_set(self, entries):
        """True when this is a complete manifest listing exactly ``entries``."""
        return self.state == STATE_COMPLETE and self.files is not None and self.files == tuple(sorted(entries))

    def write(self, path, mode=0o644, owner=None):
        """Publish this marker at ``path`` durably (temp, fsync, rename, fsync dir), with ``mode`` and
        ``owner`` (``(uid, gid)``, where this user may give it): those of the data it describes."""
        write_bytes_durably(path, self.to_bytes(), mode, owner)


def read_marker_bytes(path):
    """``(raw bytes, stat)`` of the marker file at ``path`` (at most a manifest's limit + 1); None when absent.

    Opened non-blocking and without following links, then checked to be a
    regular file: a FIFO, directory or symlink planted there is refused at
    once instead of hanging or being followed. Through its directory's fd, whose
    own name is followed only when no other user could have made it a link: a
    state directory ``DIR/.handoff`` another user replaced with a symlink is
    refused, never read through.
    """
    try:
        with Directory.open_through_trusted_link(os.path.dirname(path)) as directory:
            fd = os.open(os.path.basename(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=directory.fd)
    except FileNotFoundError:
        return None
    except UnsafeFile as exc:
        raise MarkerError('marker %s cannot be read: %s' % (path, exc.msg), marker_path=path)
    except OSError as exc:
        kind = 'a symlink' if exc.errno == errno.ELOOP else 'unreadable (%s)' % exc.strerror
        raise MarkerError('marker %s is %s; a marker must be a regular file' % (path, kind), marker_path=path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MarkerError('marker %s is not a regular file (a directory, FIFO or device)' % path,
                              marker_path=path)
        return _read_up_to(fd, MAX_MANIFEST_BYTES + 1), st
    finally:
        os.close(fd)


def _unique_keys(pairs):
    """A JSON object as a dict, refusing a key given twice (json would keep the last one silently)."""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError('a key appears twice in one object')
    return doc


def _no_constant(name):
    """Refuse NaN and Infinity, which Python's json accepts but JSON (and handoff.sh) does not."""
    raise ValueError('%s is not JSON' % name)


def _read_up_to(fd, limit):
    """Read until EOF or ``limit`` bytes (one ``read`` may return less than asked)."""
    parts = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1024 * 1024))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b''.join(parts)
