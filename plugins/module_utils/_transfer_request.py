# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private contract between the ``atomic_upload`` action plugin and its module.

The action plugin drives the module in phases (probe, publish, abort; the
same three for a set of files; probe and publish for a list of files with
their own destinations; for a small set or list, both in one run that carries
the bytes). Each run carries one undocumented option, ``_request``: the phase and
exactly that phase's fields, typed; the one-run phase adds ``_inline``, its
bytes. Both sides go through this file: the controller builds requests with ``build_request`` and
checks results with ``check_response``; the module parses with
``parse_request`` and checks its results with ``check_response``. A field
that is unknown, missing or of the wrong type is an error naming it, so a
rename on one side fails at once instead of being ignored.
"""

from __future__ import annotations

import base64
import binascii
from collections import namedtuple

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

REQUEST_OPTION = '_request'
# The bytes of an inline phase, beside the request rather than in it: no_log keeps them out of the host's log and out
# of the result's invocation, where masking the whole request would also mask every path it names.
INLINE_OPTION = '_inline'
# The module's internal options; users never set them (the action plugin refuses unknown options).
# Not required in the spec: a task run without the action plugin gets parse_request's message, which says why.
REQUEST_ARGUMENT_SPEC = {REQUEST_OPTION: dict(type='dict'), INLINE_OPTION: dict(type='str', no_log=True)}
# A set or list of files whose bytes add up to no more than this travels inside the one module run that probes and
# publishes it (the inline phase): one round trip instead of a probe, a transfer and a publish. Above it, the
# transfer is a file of its own, and only the files the probe found changed are sent.
INLINE_UP_TO_BYTES = 1024 * 1024

PROBE, PUBLISH, ABORT = 'probe', 'publish', 'abort'
PROBE_SET, PUBLISH_SET, ABORT_SET, INLINE_SET = 'probe_set', 'publish_set', 'abort_set', 'inline_set'
SET_PHASES = (PROBE_SET, PUBLISH_SET, ABORT_SET, INLINE_SET)
PROBE_FILES, PUBLISH_FILES, INLINE_FILES = 'probe_files', 'publish_files', 'inline_files'
FILES_PHASES = (PROBE_FILES, PUBLISH_FILES, INLINE_FILES)
INLINE_PHASES = (INLINE_SET, INLINE_FILES)
INLINE = 'inline'  # the step of the inline phases: a probe, then the publish of what it found changed, in one run


def _kind(description, *types):
    """A field type: ``(description, test)``; a bool is no int."""
    return description, lambda value: isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _list_of(description, kind):
    """A list field whose every item is a ``kind``."""
    return description, lambda value: isinstance(value, list) and all(isinstance(item, kind) for item in value)


_STR = _kind('a string', str)
_OPTIONAL_STR = _kind('a string or null', str, type(None))
_INT = _kind('an integer', int)
_BOOL = _kind('a boolean', bool)
_FILE_LIST = _list_of('a list of mappings', dict)
_PATH_LIST = _list_of('a list of strings', str)

# What each field means: sha256/size of the source; producer named in the marker; host (inventory hostname) names
# the Redis state; direct: the controller may write the temp beside dest by name; max_diff_size from
# MAX_FILE_SIZE_FOR_DIFF; staged_path where the bytes are on the target; reason why a transfer failed; files every
# file of a set as {path, size, sha256}; changed the relative paths the set's archive holds. For a list of files,
# files holds each file as FILE_ENTRY_FIELDS and changed the indexes (as strings) of those the archive holds.
_FILE = dict(sha256=_OPTIONAL_STR, size=_INT, producer=_STR, host=_OPTIONAL_STR)
_SET = dict(files=_FILE_LIST, producer=_STR)
REQUEST_FIELDS = {
    PROBE: dict(_FILE, direct=_BOOL, max_diff_size=_INT),
    PUBLISH: dict(_FILE, sha256=_STR, direct=_BOOL, staged_path=_STR),
    ABORT: dict(_FILE, staged_path=_STR, reason=_STR),
    PROBE_SET: dict(_SET, direct=_BOOL),
    PUBLISH_SET: dict(_SET, direct=_BOOL, staged_path=_STR, changed=_PATH_LIST),
    ABORT_SET: dict(_SET, staged_path=_STR, reason=_STR),
    INLINE_SET: dict(_SET),
    PROBE_FILES: dict(_SET, host=_OPTIONAL_STR, max_diff_size=_INT),
    PUBLISH_FILES: dict(_SET, host=_OPTIONAL_STR, staged_path=_STR, changed=_PATH_LIST),
    INLINE_FILES: dict(_SET, host=_OPTIONAL_STR, max_diff_size=_INT),
}
# One file of a list: where it goes and what it is; the options that differ from file to file.
FILE_ENTRY_FIELDS = dict(dest=_STR, sha256=_STR, size=_INT, mode=_kind('a mode', str, int, type(None)),
                         owner=_OPTIONAL_STR, group=_OPTIONAL_STR, marker_path=_OPTIONAL_STR, lock_path=_OPTIONAL_STR)
_ALL_FIELDS = sorted(set(name for fields in REQUEST_FIELDS.values() for name in fields))

# The response: the module's result after each phase. The fields the action plugin reads, by name for both sides.
ACTION = 'action'
FILES = 'files'
FILES_CHANGED = 'files_changed'
SHA256 = 'sha256'
DIFF = 'diff'
REMOVED_TEMPS = 'removed_temps'
DIRECT_TRANSFER_REFUSED = 'direct_transfer_refused'
CREATED_DIRECTORIES = 'created_directories'
# For the action plugin only (the temp to fill, the old file for the diff, why a transfer failed): never shown.
STAGING_PATH = 'staging_path'
DIFF_BEFORE = 'diff_before'
TEMP_REMOVED = 'temp_removed'
REASON = 'reason'
FAILURE_MARKER_NOTE = 'failure_marker_note'
INTERNAL_RESPONSE_KEYS = (STAGING_PATH, DIFF_BEFORE)
# An abort reports the filesystem's state (_fs.oserror.filesystem_space), from which it tells the REASON.
FILESYSTEM_SPACE = ('free_bytes', 'total_bytes', 'read_only')

# Values of ACTION the action plugin acts on.
ACTION_NEED_CHECKSUM = 'need_checksum'
ACTION_TRANSFER = 'transfer'

# What a probe may add that the publish result carries on to the task's result.
PROBE_FINDINGS = (REMOVED_TEMPS, DIRECT_TRANSFER_REFUSED, CREATED_DIRECTORIES)


class ResponseFields(namedtuple('ResponseFields', 'required optional')):
    """The fields of a phase's response the action plugin reads: those it needs, and those it reads when present."""

    @property
    def declared(self):
        return frozenset(self.required + self.optional)


_ABORT_REPORT = ResponseFields((TEMP_REMOVED, REASON, FAILURE_MARKER_NOTE), FILESYSTEM_SPACE)
_FILES_REPORT = ResponseFields((ACTION, FILES, FILES_CHANGED), ())
RESPONSE_FIELDS = {
    PROBE: ResponseFields((ACTION,), (SHA256, STAGING_PATH, DIFF_BEFORE) + PROBE_FINDINGS),
    PROBE_SET: ResponseFields((ACTION, FILES_CHANGED), (STAGING_PATH, DIFF) + PROBE_FINDINGS),
    PUBLISH: ResponseFields((ACTION,), ()),
    PUBLISH_SET: ResponseFields((ACTION, FILES_CHANGED), ()),
    INLINE_SET: ResponseFields((ACTION, FILES_CHANGED), (DIFF,) + PROBE_FINDINGS),
    ABORT: _ABORT_REPORT,
    ABORT_SET: _ABORT_REPORT,
    PROBE_FILES: _FILES_REPORT,
    PUBLISH_FILES: _FILES_REPORT,
    INLINE_FILES: _FILES_REPORT,
}
# The result of one file of a list (each item of FILES): the probe's findings travel per file.
FILE_RESPONSE_FIELDS = ResponseFields((ACTION,), (DIFF_BEFORE,) + PROBE_FINDINGS)
# What the task's result shows (the module's RETURN; missing_directories per file of a list, in check mode) and
# what AnsibleModule adds: any phase may carry these.
REPORTED_FIELDS = frozenset((
    'action', 'backup_file', 'backup_files', 'created_directories', 'dest', 'direct_transfer_refused', 'fencing_token',
    'files', 'files_changed', 'generation', 'lock_wait', 'marker_path', 'missing_directories', 'msg', 'rc', 'redis_state_key',
    'removed_temps', 'sha256', 'size', 'stderr', 'stdout', 'transfer', 'transfer_path',
    'changed', 'failed', 'diff', 'warnings', 'deprecations', 'invocation'))


class RequestError(HandoffError):
    """A request or response that breaks the contract (a bug on one side, or a hand-made request)."""


class Request:
    """One parsed request: ``phase`` and every field of ``REQUEST_FIELDS`` (None when the phase has none)."""

    __slots__ = ('phase',) + tuple(_ALL_FIELDS)

    def __init__(self, phase, fields):
        self.phase = phase
        for name in _ALL_FIELDS:
            setattr(self, name, fields.get(name))

    @property
    def is_set(self):
        return self.phase in SET_PHASES

    @property
    def is_files(self):
        return self.phase in FILES_PHASES

    @property
    def step(self):
        return step_of(self.phase)


def step_of(phase):
    """``probe``, ``publish``, ``abort`` or ``inline``: what ``phase`` does, for one file, a set and a list alike."""
    return phase.replace('_set', '').replace('_files', '')


def encode_inline(data):
    """The ``_inline`` value that carries ``data`` (bytes) to the module."""
    return base64.b64encode(data).decode('ascii')


def decode_inline(request, value):
    """The bytes of ``_inline`` (``value``) for an inline phase, None for the others; raises RequestError when the
    option and the phase disagree or the value is not base64."""
    if request.phase not in INLINE_PHASES:
        if value is not None:
            raise RequestError('%s is for phases %s only; phase %s got it'
                               % (INLINE_OPTION, ' and '.join(INLINE_PHASES), request.phase))
        return None
    if value is None:
        raise RequestError('phase %s needs %s, the bytes it publishes' % (request.phase, INLINE_OPTION))
    try:
        return base64.b64decode(value.encode('ascii'), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise RequestError('%s is not base64: %s' % (INLINE_OPTION, exc))


def with_probe_findings(publish, probe):
    """The publish result of one file, with its probe's warnings, the temps it removed, why it refused a direct
    transfer and the directories it made."""
    if probe.get('warnings'):
        publish['warnings'] = probe['warnings'] + publish.get('warnings', [])
    for key in PROBE_FINDINGS:
        if key in probe:
            publish[key] = probe[key]
    return publish


def build_request(phase, **fields):
    """The ``_request`` value for ``phase`` (controller side); raises RequestError naming a bad field."""
    _check_fields(phase, fields)
    return dict(fields, phase=phase)


def parse_request(value):
    """The ``Request`` in the module's ``_request`` option (target side); raises RequestError naming a bad field."""
    if value is None:
        raise RequestError('atomic_upload needs its action plugin, which sends the file and the %s option; run it as a '
                           'task of ansible-playbook or ansible (lockstep.handoff.atomic_upload), not as a bare module'
                           % REQUEST_OPTION)
    if not isinstance(value, dict):
        raise RequestError('%s must be a mapping; got %r' % (REQUEST_OPTION, value))
    fields = dict(value)
    phase = fields.pop('phase', None)
    _check_fields(phase, fields)
    return Request(phase, fields)


def _check_fields(phase, fields):
    if phase not in REQUEST_FIELDS:
        raise RequestError('%s phase %r is not one of %s; %s is set by the atomic_upload action plugin only'
                           % (REQUEST_OPTION, phase, ', '.join(REQUEST_FIELDS), REQUEST_OPTION))
    expected = REQUEST_FIELDS[phase]
    unknown = sorted(set(fields) - set(expected))
    missing = sorted(set(expected) - set(fields))
    if unknown or missing:
        raise RequestError('%s for phase %s: %s' % (REQUEST_OPTION, phase, '; '.join(
            ['unknown field %s' % name for name in unknown] + ['missing field %s' % name for name in missing])))
    for name, (description, test) in sorted(expected.items()):
        if not test(fields[name]):
            raise RequestError('%s for phase %s: field %s must be %s; got %r'
                               % (REQUEST_OPTION, phase, name, description, fields[name]))
    if phase in FILES_PHASES:
        for number, entry in enumerate(fields['files'], 1):
            _check_entry(phase, number, entry)


def _check_entry(phase, number, entry):
    """Each file of a list carries exactly FILE_ENTRY_FIELDS, typed."""
    what = '%s for phase %s: files item %d' % (REQUEST_OPTION, phase, number)
    unknown = sorted(set(entry) - set(FILE_ENTRY_FIELDS))
    missing = sorted(set(FILE_ENTRY_FIELDS) - set(entry))
    if unknown or missing:
        raise RequestError('%s: %s' % (what, '; '.join(
            ['unknown field %s' % name for name in unknown] + ['missing field %s' % name for name in missing])))
    for name, (description, test) in sorted(FILE_ENTRY_FIELDS.items()):
        if not test(entry[name]):
            raise RequestError('%s: field %s must be %s; got %r' % (what, name, description, entry[name]))


def check_response(phase, result):
    """``result`` of ``phase`` unless it breaks the contract; raises RequestError naming each bad field.

    A result that failed is passed on as it is. Otherwise it needs every
    required field of RESPONSE_FIELDS (only ACTION when it asks for the
    checksum) and may carry only that phase's fields and REPORTED_FIELDS: a
    field renamed on one side is an unknown field here, not a silent fallback.
    """
    if result.get('failed'):
        return result
    fields = RESPONSE_FIELDS[phase]
    if result.get(ACTION) == ACTION_NEED_CHECKSUM:
        fields = ResponseFields((ACTION,), ())
    problems = _response_problems(fields, result)
    if phase in FILES_PHASES:
        for number, item in enumerate(result[FILES], 1):
            if not item.get('failed'):
                problems += ['%s item %d %s' % (FILES, number, problem)
                             for problem in _response_problems(FILE_RESPONSE_FIELDS, item)]
    if problems:
        raise RequestError('the atomic_upload module answered phase %s %s' % (phase, ' and '.join(problems)))
    return result


def _response_problems(fields, result):
    """``without ...`` naming the missing required fields, ``with unknown field ...`` naming undeclared ones."""
    missing = [name for name in fields.required if name not in result]
    unknown = sorted(name for name in result
                     if name not in fields.declared and name not in REPORTED_FIELDS and not name.startswith('_ansible_'))
    return (['without %s' % ', '.join(missing)] if missing else []) + \
        (['with unknown field %s' % ', '.join(unknown)] if unknown else [])
