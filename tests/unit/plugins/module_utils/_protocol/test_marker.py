# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The protocol v1 done marker: writing, reading, and every way a marker file can be wrong."""

from __future__ import annotations

import json
import os
import re
import stat
import threading

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    MAX_MARKER_BYTES, PROTOCOL, STATE_COMPLETE, STATE_FAILED, Marker, MarkerError, utc_now_rfc3339)

SHA = 'ab' * 32
RFC3339_UTC = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')


def marker_doc(**fields):
    doc = dict(protocol=PROTOCOL, state=STATE_COMPLETE, size=3, sha256=SHA,
               written_at='2024-05-01T12:00:00Z', producer='test')
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not None}


def write_marker(path, doc):
    path.write_bytes(json.dumps(doc).encode('utf-8'))
    return str(path)


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def test_utc_now_is_rfc3339_with_z():
    assert RFC3339_UTC.match(utc_now_rfc3339())


def test_complete_marker_round_trips_through_a_file(tmp_path):
    path = str(tmp_path / 'x.done')
    Marker.complete(SHA, 3, 'producer on host', 7).write(path)
    read = Marker.read(path)
    assert (read.state, read.sha256, read.size, read.producer, read.generation, read.reason, read.legacy) == \
        (STATE_COMPLETE, SHA, 3, 'producer on host', 7, None, False)
    assert RFC3339_UTC.match(read.written_at)


def test_marker_file_is_one_sorted_compact_json_line_with_the_given_mode(tmp_path):
    path = tmp_path / 'x.done'
    Marker.complete(SHA, 3, 'p', 1).write(str(path), mode=0o640)
    raw = path.read_bytes()
    doc = json.loads(raw)
    assert raw == (json.dumps(doc, sort_keys=True, separators=(',', ':')) + '\n').encode()
    assert set(doc) == {'protocol', 'state', 'size', 'sha256', 'written_at', 'producer', 'generation'}
    assert doc['protocol'] == 'lockstep.handoff/1'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_failed_marker_keeps_its_reason(tmp_path):
    path = write_marker(tmp_path / 'x.done', marker_doc(state=STATE_FAILED, sha256=None, size=None,
                                                        reason='scp: connection lost'))
    read = Marker.read(path)
    assert (read.state, read.reason) == (STATE_FAILED, 'scp: connection lost')
    assert read.to_dict()['reason'] == 'scp: connection lost'


def test_missing_marker_reads_as_none(tmp_path):
    assert Marker.read(str(tmp_path / 'x.done')) is None


@pytest.mark.parametrize('content', [b'', b' \n\t\r\n'], ids=['empty', 'whitespace'])
def test_legacy_marker_is_complete_without_checksum(tmp_path, content):
    path = tmp_path / 'x.done'
    path.write_bytes(content)
    read = Marker.read(str(path))
    assert (read.state, read.legacy, read.sha256, read.size) == (STATE_COMPLETE, True, None, None)
    assert read.to_dict() == {'state': 'complete', 'legacy': True}


def test_marker_of_exactly_the_limit_is_read(tmp_path):
    raw = json.dumps(marker_doc()).encode()
    path = tmp_path / 'x.done'
    path.write_bytes(raw + b' ' * (MAX_MARKER_BYTES - len(raw)))
    assert Marker.read(str(path)).sha256 == SHA


def test_marker_over_64_kib_is_refused(tmp_path):
    path = tmp_path / 'x.done'
    path.write_bytes(b' ' * (MAX_MARKER_BYTES + 1))
    with pytest.raises(MarkerError, match='is 65537 bytes; a protocol v1 marker is at most 65536 bytes') as caught:
        Marker.read(str(path))
    assert caught.value.details == {'marker_path': str(path)}


@pytest.mark.parametrize('raw, message', [
    (b'{"protocol": ', 'is neither empty nor JSON'),
    (b'\xff\xfe{}', 'is neither empty nor JSON'),
    (b'[1, 2]', 'holds JSON list, not an object'),
    (b'"complete"', 'holds JSON str, not an object'),
    (b'DONE', 'is neither empty nor JSON'),
])
def test_marker_that_is_not_a_json_object_is_refused(tmp_path, raw, message):
    path = tmp_path / 'x.done'
    path.write_bytes(raw)
    with pytest.raises(MarkerError, match=message):
        Marker.read(str(path))


@pytest.mark.parametrize('fields, message', [
    (dict(protocol='lockstep.handoff/2'), "field 'protocol' is 'lockstep.handoff/2'; expected 'lockstep.handoff/1'"),
    (dict(protocol=None), "field 'protocol' is None"),
    (dict(state='transferring'), "field 'state' is 'transferring'; expected 'complete' or 'failed'"),
    (dict(state=None), "field 'state' is None"),
    (dict(sha256='AB' * 32), "field 'sha256' is 'ABAB"),
    (dict(sha256='ab' * 31), "field 'sha256' is 'abab"),
    (dict(sha256=12), "field 'sha256' is 12; expected 64 lowercase hex digits"),
    (dict(size=-1), "field 'size' is -1; expected a non-negative integer"),
    (dict(size=True), "field 'size' is True; expected a non-negative integer"),
    (dict(size=3.0), "field 'size' is 3.0"),
    (dict(size='3'), "field 'size' is '3'"),
    (dict(generation=-2), "field 'generation' is -2"),
    (dict(written_at=1714564800), "field 'written_at' is 1714564800; expected a string"),
    (dict(producer=['a']), "field 'producer' is \\['a'\\]; expected a string"),
    (dict(state=STATE_FAILED, reason=False), "field 'reason' is False; expected a string"),
])
def test_marker_with_a_bad_field_is_refused_naming_the_field(tmp_path, fields, message):
    path = write_marker(tmp_path / 'x.done', marker_doc(**fields))
    with pytest.raises(MarkerError, match=message) as caught:
        Marker.read(path)
    assert caught.value.msg.startswith('marker %s: ' % path)


def test_marker_with_unknown_fields_is_accepted(tmp_path):
    path = write_marker(tmp_path / 'x.done', marker_doc(host='h1', attempt=2))
    assert Marker.read(path).sha256 == SHA


def test_directory_marker_is_refused(tmp_path):
    path = tmp_path / 'x.done'
    path.mkdir()
    with pytest.raises(MarkerError, match='is not a regular file [(]a directory'):
        Marker.read(str(path))


def test_directory_marker_leaks_no_file_descriptor(tmp_path):
    path = tmp_path / 'x.done'
    path.mkdir()
    before = open_fds()
    for dummy in range(3):
        with pytest.raises(MarkerError):
            Marker.read(str(path))
    assert open_fds() == before


def test_symlink_marker_is_refused_as_a_marker_error(tmp_path):
    target = write_marker(tmp_path / 'elsewhere.done', marker_doc())
    link = tmp_path / 'x.done'
    link.symlink_to(target)
    with pytest.raises(MarkerError, match='symlink') as caught:
        Marker.read(str(link))
    assert str(link) in caught.value.msg


def test_fifo_marker_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / 'x.done'
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            outcome.append(Marker.read(str(fifo)))
        except MarkerError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(1.0)
    blocked = reader.is_alive()
    if blocked:
        os.close(os.open(fifo, os.O_WRONLY))
        reader.join(5)
    assert not blocked, 'Marker.read blocked opening a FIFO marker'
    assert isinstance(outcome[0], MarkerError)


@pytest.mark.parametrize('sha256, size, expected', [
    (SHA, 3, True),
    (SHA, 4, False),
    ('cd' * 32, 3, False),
])
def test_describes_compares_checksum_and_size(sha256, size, expected):
    assert Marker.complete(SHA, 3, 'p', 1).describes(sha256, size) is expected


def test_describes_ignores_size_when_the_marker_has_none():
    assert Marker(STATE_COMPLETE, sha256=SHA).describes(SHA, 12345)


def test_failed_or_legacy_marker_describes_nothing():
    assert not Marker(STATE_FAILED, sha256=SHA, size=3).describes(SHA, 3)
    assert not Marker(STATE_COMPLETE, legacy=True).describes(SHA, 3)


@pytest.mark.parametrize('raw', [
    b'[' * 30000 + b']' * 30000,
    b'{"protocol": "lockstep.handoff/1", "state": "complete", "reason": ' + b'[' * 30000 + b']' * 30000 + b'}',
    b'{"a":' * 10000 + b'1' + b'}' * 10000,
], ids=['lists', 'in-a-field', 'objects'])
def test_deeply_nested_marker_is_a_marker_error_not_a_recursion_error(tmp_path, raw):
    path = tmp_path / 'x.done'
    path.write_bytes(raw)
    assert len(raw) <= MAX_MARKER_BYTES
    with pytest.raises(MarkerError, match='nests JSON deeper than Python can parse'):
        Marker.read(str(path))


def test_sha256_with_a_trailing_newline_is_refused_as_a_malformed_field(tmp_path):
    path = write_marker(tmp_path / 'x.done', marker_doc(sha256='ab' * 32 + '\n'))
    with pytest.raises(MarkerError, match="field 'sha256' is 'abab.*\\\\n'; expected 64 lowercase hex digits"):
        Marker.read(path)
