# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' own argument specs, validated by ansible-core's own validator."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import RequestError, parse_request
from ansible_collections.lockstep.handoff.plugins.modules import atomic_upload, locked_move, wait_for_marker


def validate(spec, params, **rules):
    return ArgumentSpecValidator(spec, **rules).validate(params)


def test_move_defaults_lock_with_flock_for_30_seconds_and_remove_the_marker():
    params = validate(locked_move.argument_spec(), dict(src='/srv/in/x', dest='/srv/out/x')).validated_parameters
    assert (params['lock_type'], params['lock_timeout'], params['marker'], params['require_marker']) == (
        'flock', 30.0, 'remove', True)


def test_unknown_lock_type_is_refused():
    result = validate(locked_move.argument_spec(), dict(src='/a', dest='/b', lock_type='posix'))
    assert 'lock_type' in ' '.join(result.error_messages)


def test_wait_needs_a_path_and_waits_five_minutes_by_default():
    assert validate(wait_for_marker.argument_spec(), {}, **wait_for_marker.ARGUMENT_RULES).error_messages
    params = validate(wait_for_marker.argument_spec(), dict(path='/srv/in/x')).validated_parameters
    assert (params['state'], params['timeout'], params['sleep']) == ('present', 300.0, 1.0)


def test_upload_module_takes_two_internal_options_the_request_and_its_inline_bytes_and_no_other():
    spec = atomic_upload.argument_spec()
    assert [name for name in spec if name.startswith('_')] == ['_request', '_inline']
    assert spec['_inline']['no_log'] is True
    with pytest.raises(RequestError, match='atomic_upload needs its action plugin'):
        parse_request(validate(spec, dict(dest='/d')).validated_parameters['_request'])
    result = validate(spec, dict(dest='/d', _request=dict(phase='probe'), _phase='transfer'))
    assert '_phase' in ' '.join(result.error_messages)


def test_wait_takes_a_path_or_a_list_of_paths_never_both():
    rules = wait_for_marker.ARGUMENT_RULES
    assert not validate(wait_for_marker.argument_spec(), dict(paths=['/a', '/b']), **rules).error_messages
    assert validate(wait_for_marker.argument_spec(), dict(path='/a', paths=['/b']), **rules).error_messages
    assert validate(wait_for_marker.argument_spec(), dict(paths=['/a'], marker_path='/m'), **rules).error_messages


def test_move_takes_src_and_dest_or_files_never_both():
    rules = locked_move.ARGUMENT_RULES
    spec = locked_move.argument_spec()
    assert validate(spec, {}, **rules).error_messages
    assert validate(spec, dict(src='/a'), **rules).error_messages
    files = [dict(src='/a', dest='/b', mode='0640')]
    params = validate(spec, dict(files=files, wait=True), **rules).validated_parameters
    assert (params['files'][0]['lock_path'], params['timeout'], params['all_or_none']) == (None, 300.0, False)
    assert validate(spec, dict(files=files, src='/a', dest='/b'), **rules).error_messages
    assert validate(spec, dict(files=[dict(src='/a')]), **rules).error_messages


def test_move_needs_src_unless_it_rolls_back_and_keeps_no_previous_version_by_default():
    rules = locked_move.ARGUMENT_RULES
    spec = locked_move.argument_spec()
    assert validate(spec, dict(dest='/b'), **rules).error_messages
    params = validate(spec, dict(dest='/b', rollback=True), **rules).validated_parameters
    assert (params['rollback'], params['keep_previous']) == (True, 0)
    assert not validate(spec, dict(files=[dict(src='/a', dest='/b')], rollback=True), **rules).error_messages
    assert validate(spec, dict(rollback=True), **rules).error_messages
