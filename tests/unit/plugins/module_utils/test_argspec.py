"""The modules' argument specs, validated by ansible-core's own validator."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lockstep.handoff.plugins.module_utils._argspec import (
    UPLOAD_RULES, check_src, move_options, upload_module_options, upload_options, wait_options)


def validate(spec, params, **rules):
    return ArgumentSpecValidator(spec, **rules).validate(params)


def test_move_defaults_lock_with_flock_for_30_seconds_and_remove_the_marker():
    params = validate(move_options(), dict(src='/srv/in/x', dest='/srv/out/x')).validated_parameters
    assert (params['lock_type'], params['lock_timeout'], params['marker'], params['require_marker']) == (
        'flock', 30.0, 'remove', True)


def test_unknown_lock_type_is_refused():
    result = validate(move_options(), dict(src='/a', dest='/b', lock_type='posix'))
    assert 'lock_type' in ' '.join(result.error_messages)


def test_wait_needs_a_path_and_waits_five_minutes_by_default():
    assert validate(wait_options(), {}).error_messages
    params = validate(wait_options(), dict(path='/srv/in/x')).validated_parameters
    assert (params['state'], params['timeout'], params['sleep']) == ('present', 300.0, 1.0)


@pytest.mark.parametrize('params', [dict(dest='/d'), dict(dest='/d', src='/s', content='x')])
def test_upload_needs_exactly_one_of_src_and_content(params):
    assert validate(upload_options(), params, **UPLOAD_RULES).error_messages


def test_upload_module_phase_must_be_known():
    result = validate(upload_module_options(), dict(dest='/d', _phase='transfer'))
    assert '_phase' in ' '.join(result.error_messages)


def test_upload_src_may_be_a_path_or_a_list_of_paths_and_is_expanded_like_a_path(monkeypatch):
    monkeypatch.setenv('HOME', '/home/op')
    monkeypatch.setenv('RELEASE', '1.4')
    assert check_src(None) is None
    assert check_src('~/app-$RELEASE.tar') == '/home/op/app-1.4.tar'
    assert check_src(['a.conf', '~/b.conf', 2024]) == ['a.conf', '/home/op/b.conf', '2024']
    params = validate(upload_options(), dict(dest='/d', src=['a.conf', 'b.conf']), **UPLOAD_RULES)
    assert not params.error_messages and params.validated_parameters['src'] == ['a.conf', 'b.conf']


@pytest.mark.parametrize('src, message', [
    ({'path': 'a.conf'}, "src must be a path (a string); got a mapping: {'path': 'a.conf'}"),
    (True, 'src must be a path (a string); got a boolean: True'),
    ([], 'src is an empty list; list at least one file'),
    (['a.conf', ['b.conf']], "src item 2 must be a path (a string); got a list: ['b.conf']"),
    (['a.conf', None], 'src item 2 must be a path (a string); got null: None'),
    (['a.conf', ''], 'src item 2 is an empty string'),
])
def test_upload_src_of_another_type_gets_one_error_naming_it(src, message):
    with pytest.raises(ValueError) as refused:
        check_src(src)
    assert str(refused.value).startswith(message)
