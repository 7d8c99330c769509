# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private request/response between atomic_upload's action plugin and module: strict on both sides."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.lockstep.handoff.plugins.modules import atomic_upload
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    REPORTED_FIELDS, REQUEST_ARGUMENT_SPEC, REQUEST_FIELDS, RESPONSE_FIELDS, RequestError, build_request,
    check_response, decode_inline, encode_inline, parse_request)

PROBE = dict(sha256='ab' * 32, size=3, producer='p', host='web1', direct=True, max_diff_size=1024)


def test_a_built_request_parses_back_to_the_same_fields():
    request = parse_request(build_request('probe', **PROBE))
    assert (request.phase, request.step, request.is_set) == ('probe', 'probe', False)
    assert {name: getattr(request, name) for name in PROBE} == PROBE
    assert (request.staged_path, request.files, request.changed) == (None, None, None)


def test_a_set_phase_is_a_set_and_names_its_step():
    request = parse_request(build_request('publish_set', files=[], producer='p', direct=False, staged_path='/t',
                                          changed=[]))
    assert (request.step, request.is_set) == ('publish', True)


def test_an_unknown_phase_is_an_error_naming_it():
    with pytest.raises(RequestError, match="phase 'transfer' is not one of probe, publish, abort"):
        parse_request(dict(PROBE, phase='transfer'))


@pytest.mark.parametrize('change, message', [
    (dict(staged_path='/t'), 'unknown field staged_path'),
    (dict(_sha256='ab'), 'unknown field _sha256'),
    (dict(size=None), 'field size must be an integer; got None'),
    (dict(size=True), 'field size must be an integer; got True'),
    (dict(direct='yes'), "field direct must be a boolean; got 'yes'"),
    (dict(sha256=5), 'field sha256 must be a string or null; got 5'),
])
def test_a_wrong_field_is_an_error_naming_it_on_both_sides(change, message):
    fields = dict(PROBE, **change)
    with pytest.raises(RequestError, match=message):
        build_request('probe', **fields)
    with pytest.raises(RequestError, match=message):
        parse_request(dict(fields, phase='probe'))


def test_every_missing_field_is_named():
    fields = dict(PROBE)
    del fields['producer'], fields['host']
    with pytest.raises(RequestError, match='missing field host; missing field producer'):
        parse_request(dict(fields, phase='probe'))


@pytest.mark.parametrize('change, message', [
    (dict(files=[['a', 1, 'ab']]), r"field files must be a list of mappings; got \[\['a', 1, 'ab'\]\]"),
    (dict(changed=[1]), r'field changed must be a list of strings; got \[1\]'),
    (dict(changed='a.csv'), "field changed must be a list of strings; got 'a.csv'"),
])
def test_list_fields_are_checked_item_by_item(change, message):
    fields = dict(dict(files=[], producer='p', direct=False, staged_path='/t', changed=[]), **change)
    with pytest.raises(RequestError, match=message):
        parse_request(dict(fields, phase='publish_set'))


def test_a_request_that_is_not_a_mapping_is_refused():
    with pytest.raises(RequestError, match='_request must be a mapping'):
        parse_request('probe')


def test_a_request_error_is_what_the_module_reports_as_a_failure():
    assert issubclass(RequestError, HandoffError)


def test_publish_needs_a_checksum_where_a_probe_may_go_without():
    build_request('probe', **{**PROBE, 'sha256': None})
    fields = {**PROBE, 'sha256': None, 'staged_path': '/t'}
    del fields['max_diff_size']
    with pytest.raises(RequestError, match='field sha256 must be a string; got None'):
        build_request('publish', **fields)


@pytest.mark.parametrize('phase, result, missing', [
    ('probe', dict(changed=True), 'action'),
    ('probe_set', dict(action='none'), 'files_changed'),
    ('abort', dict(temp_removed=True, reason='x'), 'failure_marker_note'),
])
def test_a_response_without_a_key_the_plugin_reads_is_an_error_naming_it(phase, result, missing):
    with pytest.raises(RequestError, match='answered phase %s without %s' % (phase, missing)):
        check_response(phase, result)


def test_a_failed_run_and_a_request_for_the_checksum_need_no_more_keys():
    assert check_response('probe_set', dict(failed=True, msg='x'))['failed']
    assert check_response('probe_set', dict(action='need_checksum'))['action'] == 'need_checksum'


@pytest.mark.parametrize('phase, result, unknown', [
    ('probe', dict(action='transfer', stagingpath='/srv/.a.tmp'), 'stagingpath'),
    ('probe_set', dict(action='transfer', files_changed=['a'], diff_befor={}), 'diff_befor'),
    ('publish', dict(action='transfer', staging_path='/srv/.a.tmp'), 'staging_path'),
    ('abort', dict(temp_removed=True, reason='x', failure_marker_note='', temp_remove=True), 'temp_remove'),
    ('probe_files', dict(action='none', files_changed=[], files=[dict(action='none', diffbefore={})]),
     'diffbefore'),
])
def test_a_response_with_an_unknown_or_misspelled_field_is_an_error_naming_it(phase, result, unknown):
    with pytest.raises(RequestError, match='answered phase %s (files item 1 )?with unknown field %s$' % (phase, unknown)):
        check_response(phase, result)


def test_a_response_names_both_its_missing_and_its_unknown_fields():
    with pytest.raises(RequestError, match='answered phase probe_set without files_changed and with unknown field '
                                           'file_changed, staging_pth$'):
        check_response('probe_set', dict(action='transfer', file_changed=['a'], staging_pth='/t'))


def test_optional_and_reported_fields_may_be_present_or_not():
    assert check_response('probe', dict(action='transfer'))
    assert check_response('probe', dict(action='transfer', staging_path='/t', diff_before=dict(absent=True),
                                        removed_temps=[], _ansible_no_log=False, invocation={}, generation=1))
    assert check_response('abort', dict(temp_removed=False, reason='x', failure_marker_note='', free_bytes=1))


def test_the_fields_a_user_sees_are_those_the_module_documents():
    documented = set(yaml.safe_load(atomic_upload.RETURN))
    assert documented <= REPORTED_FIELDS
    internal = set(name for fields in RESPONSE_FIELDS.values() for name in fields.declared) - REPORTED_FIELDS
    assert not internal & documented


def test_every_phase_has_fields():
    assert sorted(REQUEST_FIELDS) == ['abort', 'abort_set', 'inline_files', 'inline_set', 'probe', 'probe_files', 'probe_set',
                                      'publish', 'publish_files', 'publish_set']


FILE_ENTRY = dict(dest='/etc/a.conf', sha256='ab' * 32, size=3, mode='0640', owner=None, group=None, marker_path=None,
                  lock_path=None)


def test_a_list_phase_is_a_list_and_names_its_step():
    request = parse_request(build_request('publish_files', files=[FILE_ENTRY], producer='p', host='web1',
                                          staged_path='/t', changed=['0']))
    assert (request.step, request.is_files, request.is_set) == ('publish', True, False)
    assert request.files == [FILE_ENTRY]


@pytest.mark.parametrize('change, message', [
    (dict(backup=True), 'files item 1: unknown field backup'),
    (dict(dest=None), 'files item 1: field dest must be a string; got None'),
    (dict(size='3'), "files item 1: field size must be an integer; got '3'"),
    (dict(mode=[]), 'files item 1: field mode must be a mode; got'),
])
def test_a_wrong_field_of_a_listed_file_is_an_error_naming_the_item(change, message):
    fields = dict(files=[dict(FILE_ENTRY, **change)], producer='p', host=None, max_diff_size=1)
    with pytest.raises(RequestError, match=message):
        build_request('probe_files', **fields)
    with pytest.raises(RequestError, match=message):
        parse_request(dict(fields, phase='probe_files'))


def test_a_listed_file_without_a_field_is_an_error_naming_it():
    entry = dict(FILE_ENTRY)
    del entry['lock_path']
    with pytest.raises(RequestError, match='files item 1: missing field lock_path'):
        build_request('probe_files', files=[entry], producer='p', host=None, max_diff_size=1)


INLINE = dict(files=[FILE_ENTRY], producer='p', host='web1', max_diff_size=1)


def test_the_inline_phase_carries_its_bytes_beside_the_request_and_out_of_every_log():
    request = parse_request(build_request('inline_files', **INLINE))
    assert (request.step, request.is_files) == ('inline', True)
    assert decode_inline(request, encode_inline(b'\x00tar bytes\xff')) == b'\x00tar bytes\xff'
    # no_log: the host's log and the result's invocation never show the files' bytes.
    assert REQUEST_ARGUMENT_SPEC['_inline'] == dict(type='str', no_log=True)


def test_a_small_set_has_an_inline_phase_too():
    request = parse_request(build_request('inline_set', files=[], producer='p'))
    assert (request.step, request.is_set, request.is_files) == ('inline', True, False)
    assert decode_inline(request, encode_inline(b'tar')) == b'tar'


@pytest.mark.parametrize('phase, fields, value, message', [
    ('inline_files', INLINE, None, 'phase inline_files needs _inline, the bytes it publishes'),
    ('inline_files', INLINE, 'not base64!', '_inline is not base64'),
    ('probe_files', dict(INLINE), 'AAAA',
     '_inline is for phases inline_set and inline_files only; phase probe_files got it'),
    ('inline_set', dict(files=[], producer='p'), None, 'phase inline_set needs _inline, the bytes it publishes'),
])
def test_inline_bytes_and_the_phase_must_agree(phase, fields, value, message):
    with pytest.raises(RequestError, match=message):
        decode_inline(parse_request(build_request(phase, **fields)), value)
