# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""controller_gone: stdout without a reader, or a hangup noted, means the controller went away."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _controller
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import (
    ControllerGone, controller_gone, hangups_noted, stop_if_controller_gone)


@contextlib.contextmanager
def stdout_to_pipe():
    """fd 1 is the write end of a fresh pipe for the block; yields the read end's fd (the controller's)."""
    saved = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)
    try:
        yield read_end
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        with contextlib.suppress(OSError):
            os.close(read_end)


def test_a_listening_controller_is_not_gone():
    with stdout_to_pipe():
        assert controller_gone() is None
        stop_if_controller_gone('anything')


def test_stdout_without_a_reader_means_gone():
    with stdout_to_pipe() as read_end:
        os.close(read_end)
        reason = controller_gone()
        with pytest.raises(ControllerGone, match='stopped before renaming x'):
            stop_if_controller_gone('renaming x')
    assert reason == 'its end of the connection to the controller was closed'


@pytest.mark.parametrize('number', [signal.SIGHUP, signal.SIGTERM])
def test_a_hangup_is_noted_not_fatal_within_the_block(monkeypatch, number):
    monkeypatch.setattr(_controller._Hangup, 'received', None)
    before = signal.getsignal(number)
    with stdout_to_pipe():
        with hangups_noted():
            os.kill(os.getpid(), number)
            assert controller_gone() == 'got signal %s' % signal.Signals(number).name
    assert signal.getsignal(number) is before, 'the handler in place before the block is back'


def test_a_hangup_noted_in_one_block_is_forgotten_by_the_next(monkeypatch):
    """Under Mitogen the next task runs in the same interpreter: it must not stop for the last one's signal."""
    monkeypatch.setattr(_controller._Hangup, 'received', None)
    with stdout_to_pipe():
        with hangups_noted():
            os.kill(os.getpid(), signal.SIGTERM)
        with hangups_noted():
            assert controller_gone() is None
