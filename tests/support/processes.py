# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kill a whole process tree at once, as a crash or an OOM kill would.

ansible-playbook's module processes may leave its process group, so a
``killpg`` alone lets a module run on and finish after the "crash".
"""

from __future__ import annotations

import os
import signal


def _children_by_parent():
    children = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def descendants(pid):
    """Every live descendant of ``pid``."""
    children = _children_by_parent()
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(pid):
    """SIGSTOP ``pid`` and all its descendants (so none forks or finishes meanwhile), then SIGKILL them."""
    stopped = set()
    while True:
        tree = {pid, *descendants(pid)} - stopped
        if not tree:
            break
        for member in tree:
            try:
                os.kill(member, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= tree
    for member in stopped:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
