# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload's options, as the action plugin validates them on the controller."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lockstep.handoff.plugins.module_utils._upload_options import (
    UPLOAD_RULES, check_src, upload_argument_spec)


def validate(spec, params, **rules):
    return ArgumentSpecValidator(spec, **rules).validate(params)


@pytest.mark.parametrize('params', [dict(dest='/d'), dict(dest='/d', src='/s', content='x')])
def test_upload_needs_exactly_one_of_src_and_content(params):
    assert validate(upload_argument_spec(), params, **UPLOAD_RULES).error_messages


def test_upload_src_may_be_a_path_or_a_list_of_paths_and_is_expanded_like_a_path(monkeypatch):
    monkeypatch.setenv('HOME', '/home/op')
    monkeypatch.setenv('RELEASE', '1.4')
    assert check_src(None) is None
    assert check_src('~/app-$RELEASE.tar') == '/home/op/app-1.4.tar'
    assert check_src(['a.conf', '~/b.conf', 2024]) == ['a.conf', '/home/op/b.conf', '2024']
    params = validate(upload_argument_spec(), dict(dest='/d', src=['a.conf', 'b.conf']), **UPLOAD_RULES)
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
