# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks on what a task asks for, made before anything is written."""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import (
    NUMBER_BOUNDS, PlannedFile, check_absolute, check_distinct, check_name_lengths, check_not_directory,
    check_number, check_numbers, check_parent_directory, check_planned_files)


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
    check_number('timeout', value)


def test_negative_duration_is_refused_saying_what_zero_would_do():
    with pytest.raises(HandoffError) as caught:
        check_number('timeout', -0.5)
    assert caught.value.msg == ('timeout is -0.5; it must be 0 (look once) or more seconds, and at most '
                                '31622400 (366 days)')


@pytest.mark.parametrize('option', sorted(NUMBER_BOUNDS))
@pytest.mark.parametrize('value', [float('nan'), float('inf'), float('-inf'), 1e300])
def test_non_finite_and_absurd_numbers_are_refused_for_every_option(option, value):
    with pytest.raises(HandoffError, match='^%s is %s; it must be' % (option, re.escape(str(value)))):
        check_number(option, value)


@pytest.mark.parametrize('option, value', [('sleep', 0.0), ('lock_lease_ttl', 0.05), ('redis_timeout', 0.0),
                                           ('redis_port', 0), ('redis_port', 65536), ('redis_db', -1),
                                           ('sleep', 86400.5), ('lock_timeout', 366 * 86400 + 1)])
def test_out_of_range_numbers_are_refused(option, value):
    with pytest.raises(HandoffError, match='^%s is ' % option):
        check_number(option, value)


def test_sleep_names_its_range():
    with pytest.raises(HandoffError) as caught:
        check_number('sleep', 0.0)
    assert caught.value.msg == 'sleep is 0.0; it must be more than 0 seconds, and at most 86400 (a day)'


def test_check_numbers_checks_what_is_given_and_skips_what_is_not():
    check_numbers({'timeout': 300.0, 'sleep': 1.0, 'stable_for': None, 'path': '/x'})
    with pytest.raises(HandoffError, match='stable_for is nan'):
        check_numbers({'timeout': 300.0, 'stable_for': float('nan')})


def test_relative_path_is_refused_naming_the_option():
    with pytest.raises(HandoffError) as caught:
        check_absolute('lock_path', 'spool/x.lock')
    assert caught.value.msg.startswith('lock_path spool/x.lock is a relative path; give an absolute path')
    check_absolute('lock_path', '/spool/x.lock')


def _longest_name(tmp_path):
    return os.pathconf(str(tmp_path), 'PC_NAME_MAX')


def test_a_name_whose_temp_would_be_too_long_is_refused_before_anything(tmp_path):
    limit = _longest_name(tmp_path)
    dest = str(tmp_path / ('d' * (limit - 18 + 1)))
    with pytest.raises(HandoffError) as caught:
        check_name_lengths([PlannedFile('dest', dest, True)])
    assert caught.value.msg.startswith('dest %s: the name .%s.<12 hex>.tmp of the temp file of dest is %d bytes'
                                       % (dest, 'd' * (limit - 17), limit + 1))
    assert 'at most %d bytes (NAME_MAX); shorten the file name of dest to at most %d bytes' % (
        limit, limit - 18) in caught.value.msg
    assert os.listdir(str(tmp_path)) == []


def test_the_longest_names_that_fit_pass(tmp_path):
    limit = _longest_name(tmp_path)
    check_name_lengths([PlannedFile('dest', str(tmp_path / ('d' * (limit - 18))), True),
                        PlannedFile('lock_path', str(tmp_path / ('l' * limit)), False)])


def test_a_lock_name_over_name_max_is_refused(tmp_path):
    lock = str(tmp_path / ('l' * (_longest_name(tmp_path) + 1)))
    with pytest.raises(HandoffError, match='^lock_path .*NAME_MAX'):
        check_name_lengths([PlannedFile('lock_path', lock, False)])


def test_name_max_is_counted_in_bytes(tmp_path):
    limit = _longest_name(tmp_path)
    with pytest.raises(HandoffError, match='NAME_MAX'):
        check_name_lengths([PlannedFile('dest', str(tmp_path / ('\u00e9' * ((limit - 18) // 2 + 1))), True)])


def test_same_path_spelled_differently_is_a_collision(tmp_path):
    (tmp_path / 'link').symlink_to(tmp_path)
    with pytest.raises(HandoffError, match='^dest and lock_path are the same path'):
        check_distinct([PlannedFile('dest', str(tmp_path / 'x'), True),
                        PlannedFile('lock_path', str(tmp_path / 'link' / 'x'), False)])


@pytest.mark.parametrize('name', ['.x.0123456789ab.tmp', '.x.done.0123456789ab.tmp'])
def test_a_lock_named_like_a_protocol_temp_is_a_collision(tmp_path, name):
    with pytest.raises(HandoffError, match='^lock_path .* is named like a temp file of (dest|marker_path)'):
        check_distinct([PlannedFile('dest', str(tmp_path / 'x'), True),
                        PlannedFile('marker_path', str(tmp_path / 'x.done'), True),
                        PlannedFile('lock_path', str(tmp_path / name), False)])


def test_distinct_files_and_names_only_resembling_temps_pass(tmp_path):
    check_distinct([PlannedFile('dest', str(tmp_path / 'x'), True),
                    PlannedFile('marker_path', str(tmp_path / 'x.done'), True),
                    PlannedFile('lock_path', str(tmp_path / '.x.0123456789ab.tmp.lock'), False),
                    PlannedFile('dest_marker_path', str(tmp_path / '.x.0123456789AB.tmp'), True)])


def test_planned_files_check_absolute_paths_first_and_skip_unset_ones(tmp_path):
    with pytest.raises(HandoffError, match='^marker_path x.done is a relative path'):
        check_planned_files([PlannedFile('dest', str(tmp_path / 'x'), True), PlannedFile('marker_path', 'x.done', True),
                             PlannedFile('lock_path', None, False)])
    check_planned_files([PlannedFile('dest', str(tmp_path / 'x'), True), PlannedFile('lock_path', None, False)])
