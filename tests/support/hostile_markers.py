# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Marker files as another user of a hand-off directory could write them, and what each must mean.

Every reader of protocol v1 (the modules' ``Marker.read`` and handoff.sh) must give each
case the same verdict: ``complete`` (with the sha256 and size it states, None when absent),
``failed``, or ``invalid``. A marker is one flat JSON object (strings, numbers, true, false,
null; only a manifest's ``files`` is a list), each key once, valid UTF-8, at most 64 KiB;
or an empty (whitespace-only) file, a legacy ``complete`` without checksum.

``FILE_KINDS`` are hostile kinds of file at the marker's or the data's name, planted by
``plant``: none of them may be followed, waited on, or taken.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Optional

PROTOCOL = 'lockstep.handoff/1'
DATA = b'hand-off payload\n'
SHA = hashlib.sha256(DATA).hexdigest()
SIZE = len(DATA)


@dataclass(frozen=True)
class MarkerCase:
    """One marker file's bytes, the data file beside it, and the verdict every reader must give."""

    name: str
    content: bytes
    verdict: str
    sha256: Optional[str] = None
    size: Optional[int] = None
    data: bytes = DATA


def doc(**fields):
    """A flat marker object: protocol v1, complete, DATA's size and sha256, then ``fields``."""
    base = {'protocol': PROTOCOL, 'state': 'complete', 'size': SIZE, 'sha256': SHA}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def dumps(value, **options):
    return json.dumps(value, **options).encode('utf-8')


def raw(text):
    """Marker bytes written by hand (str as UTF-8; bytes as they are)."""
    return text.encode('utf-8') if isinstance(text, str) else text


def complete(name, content, sha256=SHA, size=SIZE, **options):
    return MarkerCase(name, content, 'complete', sha256=sha256, size=size, **options)


def failed(name, content):
    return MarkerCase(name, content, 'failed')


def invalid(name, content, **options):
    return MarkerCase(name, content, 'invalid', **options)


HEAD = '{"protocol":"%s","state":"complete","size":%d,"sha256":"%s"' % (PROTOCOL, SIZE, SHA)
FAILED_HEAD = '{"protocol":"%s","state":"failed","reason":"disk full"' % PROTOCOL
SHA_ESCAPED = ''.join('\\u%04x' % ord(char) if char.isalpha() else char for char in SHA)
DEEP = 30000

CASES = (
    complete('empty', b'', sha256=None, size=None),
    complete('whitespace only', b' \n\t\r\n', sha256=None, size=None),
    complete('vertical tab and form feed only', b'\x0b\x0c\n', sha256=None, size=None),
    complete('complete', dumps(doc(written_at='2026-01-01T00:00:00Z', producer='p', generation=3))),
    complete('compact sorted with a newline', dumps(doc(fencing_token=7), sort_keys=True, separators=(',', ':')) + b'\n'),
    complete('pretty printed over lines', dumps(doc(), indent=2) + b'\r\n'),
    complete('no checksum, no size', dumps(doc(size=None, sha256=None)), sha256=None, size=None),
    complete('null checksum, size and strings',
             raw('{"protocol":"%s","state":"complete","size":null,"sha256":null,"producer":null,"reason":null}'
                 % PROTOCOL),
             sha256=None, size=None),
    complete('size minus zero', raw('{"protocol":"%s","state":"complete","size":-0}' % PROTOCOL), sha256=None, size=0,
             data=b''),
    complete('unknown scalar fields', raw(HEAD + ',"x":1.5e3,"y":true,"z":false,"w":null,"v":-12,"u":"s"}')),
    complete('unicode escapes in keys and values', raw(
        '{"pr\\u006ftocol":"lockstep.handoff\\/1","st\\u0061te":"\\u0063omplete","size":%d,"sha256":"%s"}'
        % (SIZE, SHA_ESCAPED))),
    complete('non-ASCII producer, raw and escaped', raw(HEAD + ',"producer":"caf\u00e9 \\u00e9 \\ud83d\\ude00 \U0001f600"}')),
    complete('lone surrogate escape in a string', raw(HEAD + ',"producer":"\\ud800"}')),
    complete('non-ASCII key', raw(HEAD + ',"cl\u00e9":1}')),
    complete('a 100-digit integer in an unknown field', raw(HEAD + ',"n":%s}' % ('9' * 100))),
    complete('DEL character in a string', raw(HEAD + ',"producer":"a\x7fb"}')),
    failed('failed', dumps({'protocol': PROTOCOL, 'state': 'failed', 'reason': 'scp: connection lost'})),
    failed('failed without a reason', dumps({'protocol': PROTOCOL, 'state': 'failed'})),
    failed('failed whose reason quotes state complete',
           raw('{"protocol":"%s","state":"failed","reason":"\\"state\\":\\"complete\\""}' % PROTOCOL)),
    failed('failed with a key that quotes state complete', raw(FAILED_HEAD + ',"x\\",\\"state\\":\\"complete":1}')),
    invalid('failed with a nested state complete', raw(FAILED_HEAD + ',"extra":{"state":"complete"}}')),
    invalid('complete with a nested object', raw(HEAD + ',"extra":{"a":1}}')),
    invalid('complete with a list', raw(HEAD + ',"extra":[1,2]}')),
    invalid('protocol 2 with a nested protocol 1', raw(
        '{"protocol":"lockstep.handoff/2","state":"complete","size":%d,"sha256":"%s","x":{"protocol":"%s"}}'
        % (SIZE, SHA, PROTOCOL))),
    invalid('protocol 2', dumps(doc(protocol='lockstep.handoff/2'))),
    invalid('no protocol', dumps(doc(protocol=None))),
    invalid('protocol not a string', raw('{"protocol":1,"state":"complete"}')),
    invalid('no state', dumps(doc(state=None))),
    invalid('state done', dumps(doc(state='done'))),
    invalid('state null', raw('{"protocol":"%s","state":null}' % PROTOCOL)),
    invalid('duplicate state, failed then complete', raw(FAILED_HEAD + ',"state":"complete"}')),
    invalid('duplicate state through an escape', raw(FAILED_HEAD + ',"st\\u0061te":"complete"}')),
    invalid('duplicate key with the same value', raw(HEAD + ',"sha256":"%s"}' % SHA)),
    invalid('duplicate key, escaped and raw non-ASCII', raw(HEAD + ',"\\ud83d\\ude00":1,"\U0001f600":2}')),
    invalid('huge (over 64 KiB)', dumps(doc(producer='x' * 70000))),
    invalid('huge, mentioning "files" in a string', dumps(doc(producer='"files"' * 10000))),
    invalid('moderately nested', raw(HEAD + ',"x":' + '[' * 50 + ']' * 50 + '}')),
    invalid('deeply nested', raw(HEAD + ',"x":' + '[' * DEEP + ']' * DEEP + '}')),
    invalid('deeply nested objects alone', raw('{"a":' * 10000 + '1' + '}' * 10000)),
    invalid('not UTF-8', raw(HEAD.encode() + b',"producer":"\xff"}')),
    invalid('overlong UTF-8', raw(HEAD.encode() + b',"producer":"\xc0\xaf"}')),
    invalid('UTF-8 encoded surrogate', raw(HEAD.encode() + b',"producer":"\xed\xa0\x80"}')),
    invalid('truncated UTF-8', raw(HEAD.encode() + b',"producer":"\xe2\x82"}')),
    invalid('trailing garbage', dumps(doc()) + b'x'),
    invalid('two objects', dumps(doc()) + dumps(doc())),
    invalid('byte order mark', b'\xef\xbb\xbf' + dumps(doc())),
    invalid('form feed around the object', b'\x0c' + dumps(doc())),
    invalid('NUL byte after the object', dumps(doc()) + b'\x00'),
    invalid('NUL byte in a string', raw(HEAD.encode() + b',"producer":"a\x00b"}')),
    invalid('raw newline in a string', raw(HEAD + ',"producer":"a\nb"}')),
    invalid('invalid escape', raw(HEAD + ',"producer":"\\x41"}')),
    invalid('short unicode escape', raw(HEAD + ',"producer":"\\u12"}')),
    invalid('sha256 uppercase', dumps(doc(sha256=SHA.upper()))),
    invalid('sha256 with a trailing newline', dumps(doc(sha256=SHA + '\n'))),
    invalid('sha256 of 63 digits', dumps(doc(sha256=SHA[:63]))),
    invalid('sha256 of 65 digits', dumps(doc(sha256=SHA + 'a'))),
    invalid('sha256 a number', raw('{"protocol":"%s","state":"complete","sha256":%s}' % (PROTOCOL, '1' * 64))),
    invalid('sha256 true', dumps(doc(sha256=True))),
    invalid('size negative', dumps(doc(size=-1))),
    invalid('size float', raw(HEAD.replace('"size":%d' % SIZE, '"size":%d.0' % SIZE) + '}')),
    invalid('size with an exponent', raw(HEAD.replace('"size":%d' % SIZE, '"size":17e0') + '}')),
    invalid('size bool', dumps(doc(size=True))),
    invalid('size string', dumps(doc(size=str(SIZE)))),
    invalid('size of 4301 digits', raw(HEAD.replace('"size":%d' % SIZE, '"size":' + '1' * 4301) + '}')),
    invalid('generation negative', dumps(doc(generation=-3))),
    invalid('fencing token a string', dumps(doc(fencing_token='7'))),
    invalid('producer a number', dumps(doc(producer=5))),
    invalid('written_at false', dumps(doc(written_at=False))),
    invalid('reason a number in a failed marker', dumps({'protocol': PROTOCOL, 'state': 'failed', 'reason': 3})),
    invalid('NaN in an unknown field', raw(HEAD + ',"x":NaN}')),
    invalid('Infinity in an unknown field', raw(HEAD + ',"x":-Infinity}')),
    invalid('a top-level list', dumps([doc()])),
    invalid('a top-level string', b'"complete"'),
    invalid('a top-level null', b'null'),
    invalid('trailing comma', raw(HEAD + ',}')),
    invalid('single quotes', raw("{'protocol':'%s','state':'complete'}" % PROTOCOL)),
    invalid('unquoted key', raw('{protocol:"%s",state:"complete"}' % PROTOCOL)),
    invalid('True in Python spelling', raw(HEAD + ',"x":True}')),
    invalid('files null (a broken manifest)', raw(HEAD + ',"files":null}')),
    invalid('files a string', raw(HEAD + ',"files":"a"}')),
)

FILE_KINDS = ('symlink marker', 'FIFO marker', 'directory marker', 'FIFO data', 'symlink data')


def plant(kind, data_path, marker_path, secret_marker, secret_data):
    """Put hostile ``kind`` in place; the other file of the pair is a valid one for DATA.

    ``secret_marker`` and ``secret_data`` are root-only files elsewhere holding a complete
    marker for DATA and DATA itself: a reader that follows a symlink to them would take them.
    """
    marker = dumps(doc())
    if kind.endswith('marker'):
        with open(data_path, 'wb') as handle:
            handle.write(DATA)
        if kind == 'symlink marker':
            os.symlink(secret_marker, marker_path)
        elif kind == 'FIFO marker':
            os.mkfifo(marker_path)
        else:
            os.mkdir(marker_path)
    else:
        with open(marker_path, 'wb') as handle:
            handle.write(marker)
        if kind == 'FIFO data':
            os.mkfifo(data_path)
        else:
            os.symlink(secret_data, data_path)
