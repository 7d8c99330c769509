# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The file list of a manifest marker: one marker, written last, for a whole set of files.

A set published in one go (a directory) gets one marker listing every file's
relative path, size and sha256, like a ``_SUCCESS`` file that also says what
success was. Its ``sha256`` is the digest of the list in ``sha256sum`` format,
so one value names the whole set and a shell can check it with ``sha256sum -c``.
"""

from __future__ import annotations

import collections
import hashlib
import re

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

_SHA256 = re.compile(r'[0-9a-f]{64}')

FileEntry = collections.namedtuple('FileEntry', ['path', 'size', 'sha256'])


class UnsafePath(HandoffError):
    """A relative path that would leave its directory, or cannot name a file in it."""


def check_relative_path(path, what):
    """Raise UnsafePath unless ``path`` is a plain relative file path (``a/b.csv``) that stays below its root.

    ``what`` names where the path came from (an archive member, a manifest entry)
    so the error says which input to distrust.
    """
    if not isinstance(path, str) or not path:
        raise UnsafePath('%s %r is not a relative file path' % (what, path), path=path)
    if path.startswith('/'):
        raise UnsafePath('%s %r is absolute; only paths relative to the set\'s directory are accepted'
                         % (what, path), path=path)
    if '\0' in path:
        raise UnsafePath('%s %r contains a NUL byte' % (what, path), path=path)
    for part in path.split('/'):
        if part in ('', '.', '..'):
            raise UnsafePath('%s %r has an empty, "." or ".." component; paths must name a file below the '
                             'set\'s directory, without any detour' % (what, path), path=path)
    return path


def listing(entries):
    """The entries in ``sha256sum`` output format, sorted by path: ``<sha256>  <path>`` per line."""
    return ''.join('%s  %s\n' % (entry.sha256, entry.path) for entry in sorted(entries))


def set_digest(entries):
    """``(sha256 of the listing, total size)``: the identity of the whole set."""
    entries = tuple(entries)
    return hashlib.sha256(listing(entries).encode('utf-8')).hexdigest(), sum(entry.size for entry in entries)


def entries_from_list(value, where):
    """Validate a manifest's ``files`` value (a list of objects); return sorted FileEntry tuples.

    Raises HandoffError naming the first bad entry; ``where`` says whose list it is.
    """
    if not isinstance(value, list):
        raise HandoffError('%s: "files" is %s, expected a list of {"path", "size", "sha256"} objects'
                           % (where, type(value).__name__))
    entries = {}
    for item in value:
        if not isinstance(item, dict):
            raise HandoffError('%s: a "files" entry is %r, expected an object' % (where, item))
        path, size, sha256 = item.get('path'), item.get('size'), item.get('sha256')
        check_relative_path(path, '%s: file entry' % where)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise HandoffError('%s: file %r has size %r; expected a non-negative integer' % (where, path, size))
        if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
            raise HandoffError('%s: file %r has sha256 %r; expected 64 lowercase hex digits' % (where, path, sha256))
        if path in entries:
            raise HandoffError('%s: file %r is listed twice' % (where, path))
        entries[path] = FileEntry(path, size, sha256)
    _check_no_file_is_a_directory(entries, where)
    return tuple(sorted(entries.values()))


def _check_no_file_is_a_directory(entries, where):
    """``a`` and ``a/b`` cannot both be files: one would have to be a directory."""
    for path in entries:
        parts = path.split('/')
        for depth in range(1, len(parts)):
            prefix = '/'.join(parts[:depth])
            if prefix in entries:
                raise HandoffError('%s: %r is listed as a file and as the directory of %r' % (where, prefix, path))


def entries_to_list(entries):
    """FileEntry tuples as the JSON list a manifest stores."""
    return [{'path': entry.path, 'size': entry.size, 'sha256': entry.sha256} for entry in sorted(entries)]
