# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""run_in_own_group: output like run_command; the whole group stopped when the controller goes away."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _process_group
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone
from ansible_collections.lockstep.handoff.plugins.module_utils._process_group import run_in_own_group


def test_output_exit_status_and_stdin_like_run_command(tmp_path):
    rc, stdout, stderr = run_in_own_group(['sh', '-c', 'cat; echo "$X" >&2; echo pgid=$(ps -o pgid= -p $$); exit 3'],
                                          cwd=str(tmp_path), stdin='fed', environ_update={'X': 'seen'})
    assert (rc, stderr) == (3, 'seen\n')
    lines = stdout.splitlines()
    assert lines[0] == 'fed'
    assert int(lines[1].split('=')[1]) != os.getpgid(0), 'the command runs in a group of its own'


def test_without_stdin_the_command_reads_nothing():
    assert run_in_own_group(['cat'])[:2] == (0, '')


def gone_after(seconds):
    deadline = time.monotonic() + seconds
    return lambda: 'test says so' if time.monotonic() > deadline else None


@pytest.mark.parametrize('trap, stopped_by', [('', 'SIGTERM'), ("trap '' TERM;", 'SIGKILL')])
def test_controller_gone_stops_the_whole_group(monkeypatch, tmp_path, trap, stopped_by):
    monkeypatch.setattr(_process_group, 'controller_gone', gone_after(0.5))
    monkeypatch.setattr(_process_group, 'STOP_GRACE_SECONDS', 1.0)
    pids = tmp_path / 'pids'
    script = "%s sleep 60 & echo $! > %s; echo $$ >> %s; wait" % (trap, pids, pids)
    started = time.monotonic()
    with pytest.raises(ControllerGone) as caught:
        run_in_own_group(['sh', '-c', script])
    assert time.monotonic() - started < 10
    assert 'was stopped with %s' % stopped_by in caught.value.msg
    assert not [pid for pid in map(int, pids.read_text().split()) if running(pid)]


def running(pid):
    """Whether ``pid`` exists and is not a zombie (an orphan's zombie may wait long for a reaper here)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False
