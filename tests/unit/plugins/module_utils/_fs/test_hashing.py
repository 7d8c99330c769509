# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming sha256 agrees with hashlib at every chunk boundary, and copies are exact."""

from __future__ import annotations

import hashlib
import os
import random
import threading

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import (
    CHUNK_SIZE, copy_with_sha256, sha256_of_fd, sha256_of_path)

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]


def data_of(size):
    return random.Random(size).randbytes(size)


@pytest.fixture(params=SIZES, ids=lambda size: 'size=%d' % size)
def data_file(request, tmp_path):
    data = data_of(request.param)
    path = tmp_path / 'data'
    path.write_bytes(data)
    return path, data


def test_sha256_of_path_equals_hashlib(data_file):
    path, data = data_file
    assert sha256_of_path(str(path)) == (hashlib.sha256(data).hexdigest(), len(data))


def test_sha256_of_path_refuses_a_symlink(tmp_path):
    (tmp_path / 'data').write_bytes(b'x')
    (tmp_path / 'link').symlink_to(tmp_path / 'data')
    with pytest.raises(UnsafeFile, match='symlink'):
        sha256_of_path(str(tmp_path / 'link'))


def test_sha256_of_path_refuses_a_fifo_at_once(tmp_path, fails_instead_of_hanging):
    """A FIFO swapped in for a data file used to block the reader (and a mover holding its lock) for ever."""
    os.mkfifo(tmp_path / 'data')
    with pytest.raises(UnsafeFile, match='not a regular file'):
        sha256_of_path(str(tmp_path / 'data'))


def test_sha256_of_path_refuses_a_file_other_than_the_one_judged(tmp_path):
    (tmp_path / 'data').write_bytes(b'judged')
    judged = os.stat(tmp_path / 'data')
    (tmp_path / 'other').write_bytes(b'swapped in')
    os.rename(tmp_path / 'other', tmp_path / 'data')
    with pytest.raises(UnsafeFile, match='replaced by another file'):
        sha256_of_path(str(tmp_path / 'data'), expected=judged)


def test_sha256_of_fd_hashes_from_the_current_offset_and_leaves_fd_open(tmp_path):
    data = data_of(1000)
    (tmp_path / 'data').write_bytes(data)
    fd = os.open(tmp_path / 'data', os.O_RDONLY)
    try:
        os.lseek(fd, 10, os.SEEK_SET)
        assert sha256_of_fd(fd) == (hashlib.sha256(data[10:]).hexdigest(), 990)
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 3) == data[:3]
    finally:
        os.close(fd)


def test_copy_with_sha256_copies_exactly(data_file, tmp_path):
    path, data = data_file
    src_fd = os.open(path, os.O_RDONLY)
    dst_fd = os.open(tmp_path / 'copy', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        result = copy_with_sha256(src_fd, dst_fd)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert result == (hashlib.sha256(data).hexdigest(), len(data))
    assert (tmp_path / 'copy').read_bytes() == data


def test_copy_with_sha256_from_a_pipe_with_short_reads(tmp_path):
    data = data_of(2 * CHUNK_SIZE + 5)
    read_fd, write_fd = os.pipe()

    def feed():
        with os.fdopen(write_fd, 'wb') as writer:
            for start in range(0, len(data), 4093):
                writer.write(data[start:start + 4093])
                writer.flush()

    feeder = threading.Thread(target=feed)
    feeder.start()
    dst_fd = os.open(tmp_path / 'copy', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        result = copy_with_sha256(read_fd, dst_fd)
    finally:
        feeder.join(10)
        os.close(read_fd)
        os.close(dst_fd)
    assert result == (hashlib.sha256(data).hexdigest(), len(data))
    assert (tmp_path / 'copy').read_bytes() == data
