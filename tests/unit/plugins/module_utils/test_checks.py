"""Checks on what a task asks for, made before anything is written."""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._checks import (
    check_non_negative, check_not_directory, check_parent_directory)


def test_existing_parent_directory_passes(tmp_path):
    check_parent_directory(str(tmp_path / 'x'), 'dest')


def test_missing_parent_directory_is_named_with_the_option(tmp_path):
    path = str(tmp_path / 'missing' / 'x')
    with pytest.raises(HandoffError) as caught:
        check_parent_directory(path, 'dest')
    assert caught.value.msg.startswith('dest %s: its directory %s does not exist; create it first'
                                       % (path, tmp_path / 'missing'))
    assert caught.value.details == {'path': path}


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'file').write_bytes(b'')
    with pytest.raises(HandoffError, match='does not exist'):
        check_parent_directory(str(tmp_path / 'file' / 'x'), 'marker_path')


def test_bare_name_has_the_current_directory_as_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_parent_directory('x', 'dest')


def test_directory_where_a_file_is_needed_is_refused_with_an_example(tmp_path):
    with pytest.raises(HandoffError) as caught:
        check_not_directory(str(tmp_path), 'dest')
    assert caught.value.msg == 'dest %s is a directory; give the full path of the file, e.g. %s/NAME' % (
        tmp_path, tmp_path)


@pytest.mark.parametrize('kind', ['file', 'missing', 'symlink-to-directory'])
def test_non_directories_pass(tmp_path, kind):
    path = tmp_path / 'x'
    if kind == 'file':
        path.write_bytes(b'')
    elif kind == 'symlink-to-directory':
        path.symlink_to(tmp_path)
    check_not_directory(str(path), 'dest')


@pytest.mark.parametrize('value', [0, 0.0, 2.5])
def test_zero_and_positive_durations_pass(value):
    check_non_negative('timeout', value, 'look once')


def test_negative_duration_is_refused_saying_what_zero_would_do():
    with pytest.raises(HandoffError) as caught:
        check_non_negative('timeout', -0.5, 'look once')
    assert caught.value.msg == 'timeout is -0.5; it must be 0 (look once) or more seconds'
