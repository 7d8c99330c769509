# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive a set of files travels in, read without trusting it, and placed below one root.

The controller sends the changed files of a set as one uncompressed tar. Its
members are never extracted by ``tarfile`` itself: each must be a regular file
whose name is one of the expected relative paths with the expected size, and is
then copied by the caller into a protocol temp file below the destination. No
absolute path, ``..``, link, device or directory entry gets through, and no
file is written through a symlink planted inside the destination.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import make_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import check_relative_path


class UnsafeArchive(HandoffError):
    """An archive member, or a path below the destination, that would write somewhere it must not."""


def checked_members(tar, expected):
    """Yield ``(member, entry)`` for each member of ``tar``, refusing anything unexpected.

    ``expected`` maps relative path to FileEntry. Every member must be a regular
    file named exactly like one expected path (once) with its size; every
    expected path must be present. The first violation raises UnsafeArchive.
    """
    seen = set()
    for member in tar:
        name = member.name
        if not member.isreg():
            kind = ('a symlink' if member.issym() else 'a hard link' if member.islnk() else
                    'a directory' if member.isdir() else 'a device or FIFO')
            raise UnsafeArchive('archive member %r is %s; only regular files are accepted' % (name, kind),
                                member=name)
        check_relative_path(name, 'archive member')
        entry = expected.get(name)
        if entry is None:
            raise UnsafeArchive('archive member %r is not one of the files the controller announced' % name,
                                member=name)
        if name in seen:
            raise UnsafeArchive('archive member %r appears twice' % name, member=name)
        if member.size != entry.size:
            raise UnsafeArchive('archive member %r is %d bytes; %d were announced' % (name, member.size, entry.size),
                                member=name)
        seen.add(name)
        yield member, entry
    missing = sorted(set(expected) - seen)
    if missing:
        raise UnsafeArchive('the archive lacks %d announced file(s): %s' % (len(missing), ', '.join(missing[:10])),
                            missing=missing)


def target_below(root, relative_path, create_directories):
    """The path of ``relative_path`` below ``root``, after checking every directory on the way.

    Each intermediate component must be a real directory (created when missing
    and ``create_directories`` is true, step by step through directory fds as
    ``create_parents`` makes them, so nothing is made through a link another
    user swaps in): a symlink there could lead outside ``root``, so it is
    refused. The last component may not be a directory.
    """
    check_relative_path(relative_path, 'file')
    parts = relative_path.split('/')
    current = root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if create_directories:
                make_directory(os.path.abspath(os.path.join(root, *parts[:-1])))
            break
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeArchive('%s is a symlink; files of the set are never written through a link, which could '
                                'lead outside %s. Replace it with a directory' % (current, root), path=current)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive('%s is not a directory, but the set has files below it (%s); remove it or rename '
                                'the files' % (current, relative_path), path=current)
    target = os.path.join(root, *parts)
    if os.path.isdir(target) and not os.path.islink(target):
        raise UnsafeArchive('%s is a directory, but the set has a file of that name; remove the directory or '
                            'rename the file' % target, path=target)
    return target
