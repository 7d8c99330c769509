# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The protocol's names: temps, markers, locks, state directories, sets."""

from __future__ import annotations

import re

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    default_lock_path, default_marker_path, is_protocol_name, is_temp_name_of, set_directory, state_directory,
    temp_name, temp_name_shape, temp_target_name)


@pytest.mark.parametrize('state_dir', [None, ''])
def test_without_a_state_dir_marker_and_lock_are_beside_the_data(state_dir):
    assert default_marker_path('/srv/in/x.tar', state_dir) == '/srv/in/x.tar.done'
    assert default_lock_path('/srv/in/x.tar', state_dir) == '/srv/in/x.tar.lock'
    assert state_directory('/srv/in/x.tar', state_dir) == '/srv/in'


@pytest.mark.parametrize('state_dir, marker', [
    ('.handoff', '/srv/in/.handoff/x.tar.done'),
    ('.handoff/', '/srv/in/.handoff/x.tar.done'),
    ('a/b', '/srv/in/a/b/x.tar.done'),
    ('/var/lib/handoff', '/var/lib/handoff/x.tar.done'),
    ('/var/lib/handoff/', '/var/lib/handoff/x.tar.done'),
])
def test_a_relative_state_dir_is_below_the_data_directory_an_absolute_one_is_itself(state_dir, marker):
    assert default_marker_path('/srv/in/x.tar', state_dir) == marker
    assert default_lock_path('/srv/in/x.tar', state_dir) == marker[:-len('.done')] + '.lock'


def test_a_file_at_the_root_gets_its_state_dir_below_the_root():
    assert default_marker_path('/x', '.handoff') == '/.handoff/x.done'


@pytest.mark.parametrize('dest, directory', [('/srv/out/', '/srv/out'), ('/srv/out//', '/srv/out'),
                                             ('/srv/out', '/srv/out'), ('/', '/'), ('//', '/')])
def test_a_set_directory_loses_its_trailing_slashes(dest, directory):
    assert set_directory(dest) == directory


def test_temp_names_are_fresh_hidden_and_name_their_target():
    first, second = temp_name('x.tar'), temp_name('x.tar')
    assert first != second
    assert re.fullmatch(r'\.x\.tar\.[0-9a-f]{12}\.tmp', first)
    assert temp_target_name(first) == 'x.tar'
    assert len(temp_name_shape('x.tar')) == len(first)


@pytest.mark.parametrize('name', ['x.tar', 'a b.txt', 'ünï.cödé', '.hidden', 'x.done', 'new\nline'])
def test_temp_target_name_round_trips_any_name(name):
    assert temp_target_name(temp_name(name)) == name


@pytest.mark.parametrize('name', ['x.tar', '.x.tar.tmp', '.x.tar.0123456789AB.tmp', '.x.tar.0123456789a.tmp',
                                  'x.tar.0123456789ab.tmp', '.x.tar.0123456789ab.tmp~'])
def test_temp_target_name_refuses_other_names(name):
    assert temp_target_name(name) is None


def test_is_temp_name_of_is_exact_and_in_the_same_directory():
    assert is_temp_name_of('/srv/in/.x.tar.0123456789ab.tmp', '/srv/in/x.tar')
    assert not is_temp_name_of('/srv/in/.x.tar.done.0123456789ab.tmp', '/srv/in/x.tar')
    assert not is_temp_name_of('/srv/other/.x.tar.0123456789ab.tmp', '/srv/in/x.tar')


@pytest.mark.parametrize('name, protocol', [('.x.0123456789ab.tmp', True), ('.hidden', True), ('x.done', True),
                                            ('x.lock', True), ('x.tmp', True), ('x.tar', False), ('done', False)])
def test_protocol_names_are_never_taken_from_an_inbox(name, protocol):
    assert is_protocol_name(name) is protocol
