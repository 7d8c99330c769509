# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private contract between the ``atomic_upload`` action plugin and its module.

The action plugin drives the module in phases (probe, publish, abort; the
same three for a set of files; probe and publish for a list of files with
their own destinations). Each run carries one undocumented option,
``_request``: the phase and exactly that phase's fields, typed. Both sides go
through this file: the controller builds requests with ``build_request`` and
checks results with ``check_response``; the module parses with
``parse_request`` and checks its results with ``check_response``. A field
that is unknown, missing or of the wrong type is an error naming it, so a
rename on one side fails at once instead of being ignored.
"""

from __future__ import annotations

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

REQUEST_OPTION = '_request'
# The module's one internal option; users never set it (the action plugin refuses unknown options).
# Not required in the spec: a task run without the action plugin gets parse_request's message, which says why.
REQUEST_ARGUMENT_SPEC = {REQUEST_OPTION: dict(type='dict')}

PROBE, PUBLISH, ABORT = 'probe', 'publish', 'abort'
PROBE_SET, PUBLISH_SET, ABORT_SET = 'probe_set', 'publish_set', 'abort_set'
SET_PHASES = (PROBE_SET, PUBLISH_SET, ABORT_SET)
PROBE_FILES, PUBLISH_FILES = 'probe_files', 'publish_files'
FILES_PHASES = (PROBE_FILES, PUBLISH_FILES)


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
    PROBE_FILES: dict(_SET, host=_OPTIONAL_STR, max_diff_size=_INT),
    PUBLISH_FILES: dict(_SET, host=_OPTIONAL_STR, staged_path=_STR, changed=_PATH_LIST),
}
# One file of a list: where it goes and what it is; the options that differ from file to file.
FILE_ENTRY_FIELDS = dict(dest=_STR, sha256=_STR, size=_INT, mode=_kind('a mode', str, int, type(None)),
                         owner=_OPTIONAL_STR, group=_OPTIONAL_STR, marker_path=_OPTIONAL_STR, lock_path=_OPTIONAL_STR)
_ALL_FIELDS = sorted(set(name for fields in REQUEST_FIELDS.values() for name in fields))

# The result keys the action plugin needs after each phase (unless the run failed).
ACTION_NEED_CHECKSUM = 'need_checksum'
ACTION_TRANSFER = 'transfer'
_ABORT_REPORT = ('temp_removed', 'reason', 'failure_marker_note')
RESPONSE_FIELDS = {
    PROBE: ('action',),
    PROBE_SET: ('action', 'files_changed'),
    PUBLISH: ('action',),
    PUBLISH_SET: ('action', 'files_changed'),
    ABORT: _ABORT_REPORT,
    ABORT_SET: _ABORT_REPORT,
    PROBE_FILES: ('action', 'files', 'files_changed'),
    PUBLISH_FILES: ('action', 'files', 'files_changed'),
}
# What a probe may add that the publish result carries on to the task's result.
PROBE_FINDINGS = ('removed_temps', 'direct_transfer_refused', 'created_directories')
# Result keys for the action plugin only (the temp to fill, the old file for the diff): never shown to users.
INTERNAL_RESPONSE_KEYS = ('staging_path', 'diff_before')


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
    """``probe``, ``publish`` or ``abort``: what ``phase`` does, for one file, a set and a list alike."""
    return phase.replace('_set', '').replace('_files', '')


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
    """Fail unless ``result`` (of a run that did not fail) holds every key the action plugin needs after ``phase``."""
    if result.get('failed'):
        return result
    required = RESPONSE_FIELDS[phase]
    if result.get('action') == ACTION_NEED_CHECKSUM:
        required = ('action',)
    missing = [name for name in required if name not in result]
    if missing:
        raise RequestError('the atomic_upload module answered phase %s without %s' % (phase, ', '.join(missing)))
    return result
