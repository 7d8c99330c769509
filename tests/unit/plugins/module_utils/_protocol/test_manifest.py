# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Manifest markers: the file list, the set digest, and every malformed manifest refused."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import (
    FileEntry, UnsafePath, check_relative_path, entries_from_list, listing, set_digest)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    MAX_MARKER_BYTES, PROTOCOL, STATE_COMPLETE, Marker, MarkerError)


def entry(path, data):
    return FileEntry(path, len(data), hashlib.sha256(data).hexdigest())


ENTRIES = (entry('b.csv', b'bee\n'), entry('a.csv', b'a\n'), entry('sub/c.csv', b''))


@pytest.mark.parametrize('path', ['a', 'a.csv', 'sub/dir/x', '.hidden', 'a..b', 'x/.y', 'with space', 'ü'])
def test_plain_relative_paths_are_accepted(path):
    assert check_relative_path(path, 'member') == path


DETOUR = 'has an empty, "." or ".." component'


@pytest.mark.parametrize('path, problem', [
    ('/etc/passwd', 'is absolute'),
    ('../x', DETOUR),
    ('a/../../x', DETOUR),
    ('a/..', DETOUR),
    ('./a', DETOUR),
    ('a//b', DETOUR),
    ('a/', DETOUR),
    ('', 'not a relative file path'),
    ('a\0b', 'NUL byte'),
    (None, 'not a relative file path'),
])
def test_paths_that_leave_the_directory_are_refused(path, problem):
    with pytest.raises(UnsafePath, match=problem):
        check_relative_path(path, 'archive member')


def test_listing_is_sha256sum_format_sorted_by_path(tmp_path):
    for item, data in (('a.csv', b'a\n'), ('b.csv', b'bee\n'), ('sub/c.csv', b'')):
        (tmp_path / item).parent.mkdir(exist_ok=True)
        (tmp_path / item).write_bytes(data)
    text = listing(ENTRIES)
    assert text.splitlines()[0].endswith('  a.csv')
    checked = subprocess.run(['sha256sum', '-c', '-'], input=text, cwd=str(tmp_path), capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_set_digest_is_the_sha256_of_the_listing_and_the_total_size():
    sha256, size = set_digest(ENTRIES)
    assert sha256 == hashlib.sha256(listing(ENTRIES).encode()).hexdigest()
    assert size == 6
    assert set_digest(reversed(ENTRIES)) == (sha256, size)
    assert set_digest(ENTRIES[:2])[0] != sha256


def test_manifest_round_trips_through_a_file(tmp_path):
    path = str(tmp_path / 'batch.done')
    Marker.complete_set(ENTRIES, 'producer on h1', 4).write(path)
    read = Marker.read(path)
    assert read.is_manifest
    assert read.files == tuple(sorted(ENTRIES))
    assert (read.sha256, read.size) == set_digest(ENTRIES)
    assert (read.state, read.generation) == (STATE_COMPLETE, 4)
    assert read.describes_set(ENTRIES)
    assert not read.describes_set(ENTRIES[:2])
    first = json.loads(open(path).read())['files'][0]
    assert first == {'path': 'a.csv', 'size': 2, 'sha256': ENTRIES[1].sha256}


def test_single_file_marker_is_not_a_manifest(tmp_path):
    path = str(tmp_path / 'x.done')
    Marker.complete('ab' * 32, 3, 'p', 1).write(path)
    read = Marker.read(path)
    assert not read.is_manifest and read.files is None
    assert not read.describes_set(ENTRIES)


def test_manifest_larger_than_a_plain_marker_is_read(tmp_path):
    many = [entry('dir/file-%05d.csv' % number, b'%d' % number) for number in range(1000)]
    path = tmp_path / 'big.done'
    Marker.complete_set(many, 'p', 1).write(str(path))
    assert path.stat().st_size > MAX_MARKER_BYTES
    assert len(Marker.read(str(path)).files) == 1000


def manifest_doc(files, **fields):
    entries = entries_from_list(files, 'test')
    sha256, size = set_digest(entries)
    doc = dict(protocol=PROTOCOL, state=STATE_COMPLETE, sha256=sha256, size=size, files=files)
    doc.update(fields)
    return doc


GOOD = [{'path': 'a', 'size': 1, 'sha256': 'ab' * 32}]


@pytest.mark.parametrize('files, message', [
    ({'a': 1}, '"files" is dict, expected a list'),
    (['a'], 'a "files" entry is \'a\', expected an object'),
    ([{'path': '../a', 'size': 1, 'sha256': 'ab' * 32}], DETOUR),
    ([{'path': '/a', 'size': 1, 'sha256': 'ab' * 32}], 'is absolute'),
    ([{'path': 'a', 'size': -1, 'sha256': 'ab' * 32}], 'has size -1'),
    ([{'path': 'a', 'size': True, 'sha256': 'ab' * 32}], 'has size True'),
    ([{'path': 'a', 'size': 1, 'sha256': 'AB' * 32}], 'expected 64 lowercase hex'),
    (GOOD * 2, "'a' is listed twice"),
    (GOOD + [{'path': 'a/b', 'size': 1, 'sha256': 'ab' * 32}], "'a' is listed as a file and as the directory"),
])
def test_malformed_file_lists_are_refused(tmp_path, files, message):
    doc = dict(protocol=PROTOCOL, state=STATE_COMPLETE, sha256='ab' * 32, size=1, files=files)
    path = tmp_path / 'm.done'
    path.write_text(json.dumps(doc))
    with pytest.raises(MarkerError, match=message):
        Marker.read(str(path))


def test_entries_from_list_names_its_source():
    with pytest.raises(HandoffError, match='^controller list: file'):
        entries_from_list([{'path': 'a', 'size': 'x', 'sha256': 'ab' * 32}], 'controller list')


@pytest.mark.parametrize('field, value', [('sha256', 'cd' * 32), ('size', 2), ('sha256', None)])
def test_manifest_whose_digest_disagrees_with_its_list_is_refused(tmp_path, field, value):
    doc = manifest_doc(GOOD)
    doc[field] = value
    if value is None:
        del doc[field]
    path = tmp_path / 'm.done'
    path.write_text(json.dumps(doc))
    with pytest.raises(MarkerError, match='the manifest is inconsistent'):
        Marker.read(str(path))


def test_failed_marker_without_files_is_not_a_manifest(tmp_path):
    path = str(tmp_path / 'm.done')
    Marker.failed('disk full', 'p', 2).write(path)
    assert not Marker.read(path).is_manifest


def test_file_entry_sha256_with_a_trailing_newline_is_refused(tmp_path):
    files = [{'path': 'a', 'size': 1, 'sha256': 'ab' * 32 + '\n'}]
    path = tmp_path / 'm.done'
    path.write_text(json.dumps(dict(protocol=PROTOCOL, state=STATE_COMPLETE, sha256='ab' * 32, size=1, files=files)))
    with pytest.raises(MarkerError, match="file 'a' has sha256 'abab.*\\\\n'; expected 64 lowercase hex digits"):
        Marker.read(str(path))


def test_a_file_list_nested_too_deep_to_parse_is_a_marker_error(tmp_path):
    path = tmp_path / 'm.done'
    path.write_bytes(b'{"protocol": "lockstep.handoff/1", "state": "complete", "files": '
                     + b'[' * 40000 + b']' * 40000 + b'}')
    with pytest.raises(MarkerError, match='nests JSON deeper than Python can parse'):
        Marker.read(str(path))
