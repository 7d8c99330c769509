# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming sha256: hash while reading or copying, so no file is read twice."""

from __future__ import annotations

import hashlib
import os

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile, open_regular, same_inode

CHUNK_SIZE = 1024 * 1024


def _chunks(fd):
    """Yield what is readable from ``fd`` as memoryviews of one reused buffer (valid until the next one)."""
    with os.fdopen(fd, 'rb', buffering=0, closefd=False) as reader:
        yield from _reader_chunks(reader)


def _reader_chunks(reader):
    """Yield what a binary file object's ``readinto`` gives, as memoryviews of one reused buffer."""
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    while True:
        count = reader.readinto(buf)
        if not count:
            return
        yield view[:count]


def sha256_of_fd(fd):
    """Return ``(hexdigest, size)`` of everything readable from ``fd``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(fd):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_of_path(path, expected=None):
    """Return ``(hexdigest, size)`` of the regular file at ``path``.

    A symlink, FIFO or device there raises UnsafeFile at once instead of being
    followed or blocking. With ``expected`` (a stat), the file opened must be
    that inode: one swapped in since it was looked at raises UnsafeFile too.
    """
    fd = open_regular(path)
    try:
        if expected is not None:
            check_same_file(fd, expected, path)
        return sha256_of_fd(fd)
    finally:
        os.close(fd)


def check_same_file(fd, expected, path):
    """Raise UnsafeFile unless the open ``fd`` is the file ``expected`` (a stat) describes."""
    if not same_inode(os.fstat(fd), expected):
        raise UnsafeFile('%s was replaced by another file while it was being judged; look again' % path, path=path)


def copy_with_sha256(src_fd, dst_fd):
    """Copy ``src_fd`` to ``dst_fd``, hashing on the way; return ``(hexdigest, size)``."""
    return _copy_chunks(_chunks(src_fd), dst_fd)


def copy_reader_with_sha256(reader, dst_fd):
    """Copy a binary file object (an archive member) to ``dst_fd``, hashing on the way; return ``(hexdigest, size)``."""
    return _copy_chunks(_reader_chunks(reader), dst_fd)


def _copy_chunks(chunks, dst_fd):
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        written = 0
        while written < len(chunk):
            written += os.write(dst_fd, chunk[written:])
        size += len(chunk)
    return digest.hexdigest(), size
