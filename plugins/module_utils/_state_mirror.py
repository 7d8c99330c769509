# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state of a hand-off mirrored off the host, for consumers that cannot see its files.

The backends call these without knowing where the state goes; this is the one
place that picks the mirror (today a Redis stream, ``_redis/state.py``, which
is imported only when a task asks for a mirror, so that no other task loads
the Redis client).
"""

from __future__ import annotations

import abc

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


class PublishMirror(abc.ABC):
    """What a producer records of one publish, after each phase."""

    @abc.abstractmethod
    def after_phase(self, phase, result):
        """Mirror a phase that ended normally; ``result`` is the phase's result and gains where it was mirrored."""

    @abc.abstractmethod
    def after_failure(self, error):
        """Mirror a failed phase (HandoffError ``error``); return a sentence for the error when that failed too."""


class MirroredWait(abc.ABC):
    """A consumer's wait on the mirrored state of a file on another host."""

    @abc.abstractmethod
    def run(self):
        """Wait until the state says complete; return the ``wait_for_marker`` result, or raise at the timeout."""


def publish_mirror(params, host, marker_path, check_mode):
    """The PublishMirror ``atomic_upload``'s options ask for, or None (always None in check mode).

    ``host`` (the inventory hostname) and the marker file name what is mirrored.
    """
    if not params['redis_state'] or check_mode:
        return None
    if not marker_path:
        raise HandoffError('redis_state mirrors the done marker, so it needs marker=true')
    from ansible_collections.lockstep.handoff.plugins.module_utils._redis.state import PublishStateMirror
    return PublishStateMirror(params, host, marker_path)


def mirrored_wait(params):
    """The MirroredWait ``wait_for_marker``'s options ask for, or None to watch the file itself."""
    if params['redis_state_host'] is None:
        return None
    from ansible_collections.lockstep.handoff.plugins.module_utils._redis.state import StateWait
    return StateWait(params)
