# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""run_backend: a backend's result or its HandoffError becomes the module's JSON answer."""

from __future__ import annotations

import gc
import json
import sys
import types

import pytest

from ansible_collections.lockstep.handoff.plugins.modules import locked_command, wait_for_marker
from ansible_collections.lockstep.handoff.plugins.module_utils._command import LockedCommand
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend


class Succeeds:
    def __init__(self, module):
        self.path = module.params['path']

    def run(self):
        return dict(changed=False, path=self.path, elapsed=0.5)


class Fails:
    def __init__(self, module):
        self.path = module.params['path']

    def run(self):
        raise HandoffError('timed out waiting for %s' % self.path, path=self.path, elapsed=3.0)


@pytest.fixture(autouse=True)
def unfreeze():
    """run_backend freezes the collector before exiting; give the test process its collector back."""
    yield
    gc.unfreeze()


def answer(make_module, capsys, backend):
    module = make_module(wait_for_marker.argument_spec(), path='/srv/in/x')
    with pytest.raises(SystemExit) as caught:
        run_backend(module, backend)
    return caught.value.code, json.loads(capsys.readouterr().out)


def test_result_is_returned_as_the_module_answer(make_module, capsys):
    code, result = answer(make_module, capsys, Succeeds)
    assert code == 0
    assert (result['changed'], result['path'], result['elapsed']) == (False, '/srv/in/x', 0.5)
    assert 'failed' not in result


def test_handoff_error_fails_the_module_with_its_message_and_details(make_module, capsys):
    code, result = answer(make_module, capsys, Fails)
    assert code == 1
    assert (result['failed'], result['msg'], result['path'], result['elapsed']) == (
        True, 'timed out waiting for /srv/in/x', '/srv/in/x', 3.0)


class NeverBuilt:
    def __init__(self, module):
        raise AssertionError('the backend was built although an option is out of bounds')


@pytest.mark.parametrize('option, value, message', [
    ('timeout', -1.0, 'timeout is -1.0; it must be 0 (look once) or more seconds, and at most 31622400 (366 days)'),
    ('sleep', float('nan'), 'sleep is nan; it must be more than 0 seconds, and at most 86400 (a day)'),
])
def test_an_option_out_of_bounds_fails_the_module_before_its_backend_is_built(
        make_module, capsys, option, value, message):
    module = make_module(wait_for_marker.argument_spec(), path='/srv/in/x')
    module.params[option] = value
    with pytest.raises(SystemExit) as caught:
        run_backend(module, NeverBuilt)
    result = json.loads(capsys.readouterr().out)
    assert (caught.value.code, result['failed'], result['msg']) == (1, True, message)


def test_a_negative_lock_timeout_fails_locked_command_before_any_lock_file_is_made(make_module, capsys, tmp_path):
    path = tmp_path / 'x.lock'
    module = make_module(locked_command.argument_spec(), argv=['true'], lock_path=str(path))
    module.params['lock_timeout'] = -1
    with pytest.raises(SystemExit):
        run_backend(module, LockedCommand)
    assert json.loads(capsys.readouterr().out)['msg'].startswith('lock_timeout is -1; it must be 0')
    assert not path.exists()


@pytest.mark.parametrize('backend', [Succeeds, Fails])
def test_objects_are_frozen_before_exit_so_shutdown_skips_a_full_collection(make_module, capsys, backend):
    gc.unfreeze()
    answer(make_module, capsys, backend)
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize('backend', [Succeeds, Fails])
def test_nothing_is_frozen_in_mitogen_s_interpreter_which_runs_the_next_tasks(
        make_module, capsys, monkeypatch, backend):
    monkeypatch.setitem(sys.modules, 'mitogen.core', types.ModuleType('mitogen.core'))
    gc.unfreeze()
    answer(make_module, capsys, backend)
    assert gc.get_freeze_count() == 0
