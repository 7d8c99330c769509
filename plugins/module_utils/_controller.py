# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the controller that started this module is still there to hear its result.

A cancelled job (AWX, ansible-runner) kills ansible-playbook, its workers and their ssh
clients; nothing is sent to the module. What does reach it, measured over ssh with and
without pipelining (with the ControlPersist master alive or killed too) and over the local
connection: the reading end of the module's stdout goes away, so ``poll()`` on fd 1 reports
POLLERR (a pipe, with pipelining and on the local connection) or POLLHUP (the pty of an ssh
run without pipelining, which also gets SIGHUP). The module's parent does not change with
pipelining, so the parent pid is no signal; stdout is.
"""

from __future__ import annotations

import select
import signal

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

LOST = select.POLLERR | select.POLLHUP | select.POLLNVAL
STDOUT = 1


class ControllerGone(HandoffError):
    """The controller went away (a cancelled job): the module stops without publishing."""


class _Hangup:
    """Set by SIGHUP or SIGTERM while ``hangups_noted`` is active."""

    received = None


def controller_gone():
    """Why the controller is gone (a signal, or stdout without a reader), or None while it listens."""
    if _Hangup.received is not None:
        return 'got signal %s' % signal.Signals(_Hangup.received).name
    poller = select.poll()
    poller.register(STDOUT, 0)
    if any(events & LOST for dummy, events in poller.poll(0)):
        return 'its end of the connection to the controller was closed'
    return None


def stop_if_controller_gone(before):
    """Raise ControllerGone, saying what was not done, when the controller has gone away."""
    reason = controller_gone()
    if reason:
        raise ControllerGone('the controller went away (a cancelled job?): %s; stopped before %s' % (reason, before))


class hangups_noted:
    """Within the block SIGHUP and SIGTERM are noted for ``controller_gone`` instead of killing this process
    at once, so that it can stop what it started first.

    Each block starts with nothing noted: under Mitogen the interpreter outlives the module, and a
    signal noted in one task must not stop the next.
    """

    SIGNALS = (signal.SIGHUP, signal.SIGTERM)

    def __enter__(self):
        _Hangup.received = None
        self.saved = {number: signal.signal(number, self._note) for number in self.SIGNALS}
        return self

    @staticmethod
    def _note(number, frame):
        _Hangup.received = number

    def __exit__(self, *exc_info):
        for number, handler in self.saved.items():
            signal.signal(number, handler)
