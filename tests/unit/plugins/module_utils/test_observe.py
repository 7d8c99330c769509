# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every verdict a look at a data file and its marker can give."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _observe
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry, set_digest
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import PROTOCOL, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import (
    FAILED, READY, WAITING, HashCache, observe)

DATA = b'hello, consumer\n'
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def paths(tmp_path):
    """``(data, marker)`` paths, nothing created yet."""
    return str(tmp_path / 'x.tar'), str(tmp_path / 'x.tar.done')


def publish(data_path, marker_path, data=DATA, **marker_fields):
    """Write ``data`` and a complete marker; ``marker_fields`` override what it says."""
    with open(data_path, 'wb') as handle:
        handle.write(data)
    doc = dict(protocol=PROTOCOL, state='complete', sha256=hashlib.sha256(data).hexdigest(), size=len(data),
               written_at='2024-05-01T12:00:00Z', producer='test', generation=1)
    doc.update(marker_fields)
    with open(marker_path, 'w') as handle:
        json.dump({key: value for key, value in doc.items() if value is not None}, handle)


def test_neither_data_nor_marker(paths):
    data, marker = paths
    seen = observe(data, marker)
    assert (seen.status, seen.marker) == (WAITING, None)
    assert seen.reason == 'neither the data file %s nor its marker %s exists yet' % (data, marker)


def test_data_without_marker_is_still_being_written(paths):
    data, marker = paths
    open(data, 'wb').close()
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason.startswith('data file %s exists but its marker %s does not' % (data, marker))


def test_marker_without_data(paths):
    data, marker = paths
    publish(data, marker)
    os.unlink(data)
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason == 'marker %s exists but the data file %s does not' % (marker, data)


def test_failed_marker_is_failed_with_the_producer_reason(paths):
    data, marker = paths
    publish(data, marker, state='failed', sha256=None, size=None, reason='scp: connection lost',
            producer='backup.sh on h1')
    seen = observe(data, marker)
    assert seen.status == FAILED
    assert seen.reason == ('the producer marked %s failed: scp: connection lost (marker %s, written '
                           '2024-05-01T12:00:00Z by backup.sh on h1)' % (data, marker))
    assert seen.marker.reason == 'scp: connection lost'


def test_failed_marker_without_details_says_what_is_unknown(paths):
    data, marker = paths
    with open(marker, 'w') as handle:
        json.dump(dict(protocol=PROTOCOL, state='failed'), handle)
    seen = observe(data, marker)
    assert seen.status == FAILED
    assert seen.reason.endswith('failed: no reason given (marker %s, written at an unknown time by an '
                                'unknown producer)' % marker)


def test_size_mismatch(paths):
    data, marker = paths
    publish(data, marker, size=len(DATA) + 1)
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason == 'size mismatch: marker %s says %d bytes, data file %s has %d' % (
        marker, len(DATA) + 1, data, len(DATA))


def test_checksum_mismatch(paths):
    data, marker = paths
    publish(data, marker)
    with open(data, 'wb') as handle:
        handle.write(DATA.upper())
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason == 'checksum mismatch: marker %s says sha256 %s, data file %s has %s' % (
        marker, SHA, data, hashlib.sha256(DATA.upper()).hexdigest())


def test_checksum_mismatch_is_not_seen_without_verify_checksum(paths):
    data, marker = paths
    publish(data, marker)
    with open(data, 'wb') as handle:
        handle.write(DATA.upper())
    seen = observe(data, marker, verify_checksum=False)
    assert (seen.status, seen.sha256) == (READY, SHA)


def test_ready_when_marker_describes_the_data(paths):
    data, marker = paths
    publish(data, marker)
    seen = observe(data, marker)
    assert (seen.status, seen.sha256, seen.size) == (READY, SHA, len(DATA))
    assert seen.reason == 'marker %s is complete and describes %s' % (marker, data)
    assert seen.marker.generation == 1


def test_legacy_empty_marker_is_accepted(paths):
    data, marker = paths
    with open(data, 'wb') as handle:
        handle.write(DATA)
    open(marker, 'wb').close()
    seen = observe(data, marker)
    assert (seen.status, seen.sha256, seen.size, seen.marker.legacy) == (READY, None, len(DATA), True)


def test_legacy_empty_marker_is_refused_when_a_checksum_is_required(paths):
    data, marker = paths
    with open(data, 'wb') as handle:
        handle.write(DATA)
    open(marker, 'wb').close()
    seen = observe(data, marker, require_checksum=True)
    assert seen.status == WAITING
    assert seen.reason == ('marker %s has no sha256 (an empty legacy marker?) and require_checksum is true'
                           % marker)


def test_marker_with_checksum_satisfies_require_checksum(paths):
    data, marker = paths
    publish(data, marker)
    assert observe(data, marker, require_checksum=True).status == READY


@pytest.mark.parametrize('generation, newer_than, status', [
    (3, 3, WAITING),
    (3, 4, WAITING),
    (3, 2, READY),
    (None, 0, WAITING),
])
def test_generation_filter_waits_for_a_newer_marker(paths, generation, newer_than, status):
    data, marker = paths
    publish(data, marker, generation=generation)
    seen = observe(data, marker, newer_than_generation=newer_than)
    assert seen.status == status
    if status == WAITING:
        assert seen.reason == 'marker %s has generation %s, not newer than %d' % (marker, generation, newer_than)


def test_unreadable_marker_is_waiting_with_the_marker_error(paths):
    data, marker = paths
    publish(data, marker)
    with open(marker, 'w') as handle:
        handle.write('{"protocol": "lockstep.handoff/9", "state": "complete"}')
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason.startswith("marker %s: field 'protocol' is 'lockstep.handoff/9'" % marker)


def test_data_path_that_is_a_directory_is_not_ready(paths):
    data, marker = paths
    publish(data, marker)
    os.unlink(data)
    os.mkdir(data)
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert seen.reason.startswith('data path %s exists but is not a regular file (a symlink, directory' % data)


def test_symlink_marker_is_a_verdict_not_an_exception(paths, tmp_path):
    data, marker = paths
    publish(data, marker)
    os.rename(marker, str(tmp_path / 'real.done'))
    os.symlink(str(tmp_path / 'real.done'), marker)
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert marker in seen.reason


def test_symlink_data_path_is_a_verdict_not_an_exception(paths, tmp_path):
    data, marker = paths
    publish(data, marker)
    os.rename(data, str(tmp_path / 'real.tar'))
    os.symlink(str(tmp_path / 'real.tar'), data)
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert data in seen.reason


def test_hash_cache_rehashes_only_when_the_file_changes_and_keeps_one_entry_per_path(tmp_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.write_bytes(b'one')
    second.write_bytes(b'two')
    cache = HashCache()
    st = os.stat(first)
    assert cache.sha256(str(first), st) == hashlib.sha256(b'one').hexdigest()
    first.write_bytes(b'ONE')
    assert cache.sha256(str(first), st) == hashlib.sha256(b'one').hexdigest()
    assert cache.sha256(str(second), os.stat(second)) == hashlib.sha256(b'two').hexdigest()
    assert cache.sha256(str(first), os.stat(first)) == hashlib.sha256(b'ONE').hexdigest()
    assert cache.sha256(str(second), os.stat(second)) == hashlib.sha256(b'two').hexdigest()


def test_observe_uses_the_hash_cache_it_is_given(paths):
    data, marker = paths
    publish(data, marker)
    cache = HashCache()
    assert observe(data, marker, hash_cache=cache).status == READY
    assert cache.sha256(data, os.stat(data)) == SHA


def test_marker_written_by_the_module_code_is_ready(paths):
    data, marker = paths
    with open(data, 'wb') as handle:
        handle.write(DATA)
    Marker.complete(SHA, len(DATA), 'p', 5).write(marker)
    assert observe(data, marker, require_checksum=True, newer_than_generation=4).status == READY


def publish_set(directory, files, marker_path, generation=1):
    """Write ``files`` ({relative path: bytes}) below ``directory``, then their manifest."""
    listed = []
    for relative, data in files.items():
        path = os.path.join(directory, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as handle:
            handle.write(data)
        listed.append(FileEntry(relative, len(data), hashlib.sha256(data).hexdigest()))
    Marker.complete_set(listed, 'test', generation).write(marker_path)
    return listed


SET = {'a.csv': b'alpha\n', 'sub/b.csv': b'bravo\n'}


def test_manifest_makes_its_directory_ready_when_every_file_matches(tmp_path):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    listed = publish_set(directory, SET, marker)
    seen = observe(directory, marker)
    assert seen.status == READY
    assert (seen.sha256, seen.size) == set_digest(listed)
    assert seen.marker.is_manifest


@pytest.mark.parametrize('damage, reason', [
    (lambda d: os.unlink(os.path.join(d, 'sub/b.csv')), 'lists .*sub/b.csv, which does not exist'),
    (lambda d: Path(d, 'a.csv').write_bytes(b'alpha\nx'), 'size mismatch: manifest .* says .*a.csv has 6'),
    (lambda d: Path(d, 'a.csv').write_bytes(b'ALPHA\n'), 'checksum mismatch: manifest .* says .*/a.csv has sha256'),
])
def test_manifest_with_a_missing_or_different_file_keeps_waiting(tmp_path, damage, reason):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    publish_set(directory, SET, marker)
    damage(directory)
    seen = observe(directory, marker)
    assert seen.status == WAITING
    assert re.search(reason, seen.reason), seen.reason


def test_manifest_checksums_are_skipped_when_verification_is_off(tmp_path):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    publish_set(directory, SET, marker)
    with open(os.path.join(directory, 'a.csv'), 'wb') as handle:
        handle.write(b'ALPHA\n')
    assert observe(directory, marker, verify_checksum=False).status == READY


def test_manifest_for_a_path_that_is_a_file_keeps_waiting(tmp_path):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    publish_set(directory, SET, marker)
    seen = observe(os.path.join(directory, 'a.csv'), marker)
    assert seen.status == WAITING and 'must be their directory, and it is not a directory' in seen.reason


def test_manifest_listing_a_file_through_a_symlinked_directory_keeps_waiting(tmp_path):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    publish_set(directory, SET, marker)
    os.rename(os.path.join(directory, 'sub'), str(tmp_path / 'elsewhere'))
    os.symlink(str(tmp_path / 'elsewhere'), os.path.join(directory, 'sub'))
    seen = observe(directory, marker)
    assert seen.status == WAITING and 'is a symlink' in seen.reason


def test_newer_generation_is_awaited_for_a_manifest_too(tmp_path):
    directory, marker = str(tmp_path / 'set'), str(tmp_path / 'set.done')
    publish_set(directory, SET, marker, generation=2)
    assert observe(directory, marker, newer_than_generation=2).status == WAITING
    assert observe(directory, marker, newer_than_generation=1).status == READY


class _SwapAfterLstat:
    """``os`` for _observe whose ``lstat`` of ``path`` lets ``swap()`` run right after it looked."""

    def __init__(self, path, swap):
        self._path, self._swap = path, swap

    def lstat(self, path):
        st = os.lstat(path)
        if str(path) == self._path:
            self._swap()
        return st

    def __getattr__(self, name):
        return getattr(os, name)


def test_data_swapped_for_a_fifo_after_the_look_waits_instead_of_hanging(paths, monkeypatch, fails_instead_of_hanging):
    """A FIFO swapped in for the data file used to block wait_for_marker (and a mover under its lock) for ever."""
    data, marker = paths
    publish(data, marker)

    def swap():
        os.unlink(data)
        os.mkfifo(data)

    monkeypatch.setattr(_observe, 'os', _SwapAfterLstat(data, swap))
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert 'not a regular file' in seen.reason


def test_data_swapped_for_another_file_after_the_look_is_not_judged_ready(paths, monkeypatch):
    data, marker = paths
    publish(data, marker)

    def swap():
        with open(data + '.other', 'wb') as handle:
            handle.write(DATA)
        os.rename(data + '.other', data)

    monkeypatch.setattr(_observe, 'os', _SwapAfterLstat(data, swap))
    seen = observe(data, marker)
    assert seen.status == WAITING
    assert 'replaced by another file' in seen.reason


def test_a_ready_verdict_names_the_inode_judged(paths):
    data, marker = paths
    publish(data, marker)
    seen = observe(data, marker)
    assert seen.status == READY
    assert os.path.samestat(seen.st, os.lstat(data))
