# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exception types the backends raise for failures a user can act on, and how their messages are joined."""

from __future__ import annotations


def sentences(*parts):
    """One message from ``parts``: each a sentence ending in a full stop, empty parts left out.

    A failure often says several things (what failed, what was left behind,
    what else went wrong); joined by hand they ran into each other.
    """
    done = []
    for part in parts:
        part = (part or '').strip()
        if part:
            done.append(part if part[-1] in '.!?' else part + '.')
    return ' '.join(done)


class HandoffError(Exception):
    """A failure whose message names the problem and the fix.

    ``details`` are extra result keys (paths, checksums, holders) so that a
    failed task still tells the operator what was seen.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class NotYet(HandoffError):
    """What the task needs is not there (yet); ``reason`` says what was seen last.

    A wait that timed out, a source not published or not marked yet. Check
    mode looks once, and there this is a report rather than a failure.
    """

    def __init__(self, msg, reason, **details):
        super().__init__(msg, **details)
        self.reason = reason
