# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command in a process group of its own, and stop the whole group when the controller goes away.

In its own session the command and everything it starts can be signalled at once, and a
hangup of the module's terminal does not reach it behind the module's back: the module
decides. While it runs, the module looks every ``POLL_SECONDS`` whether its controller is
still there (``_controller``); when not, the group gets SIGTERM, then SIGKILL after
``STOP_GRACE_SECONDS``, and ControllerGone is raised, so that the caller's lock is released
within seconds instead of when the command would have ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.lockstep.handoff.plugins.module_utils._controller import (
    ControllerGone, controller_gone, hangups_noted)

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 5.0


def run_in_own_group(argv, cwd=None, stdin=None, environ_update=None):
    """Run ``argv`` to its end and return ``(rc, stdout, stderr)`` as text, like ``run_command``.

    ``stdin`` (text) is fed with a newline appended, as ``run_command`` does; without it the
    command reads /dev/null.
    """
    environment = dict(os.environ)
    environment.update(environ_update or {})
    # Not run_command: the command needs a session of its own that can be killed as a whole, and run_command blocks
    # until the command ends, while this one polls for the controller's going away.
    process = subprocess.Popen(argv, cwd=cwd, env=environment, start_new_session=True,  # pylint: disable=ansible-bad-function
                               stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    data = None if stdin is None else to_bytes(stdin + '\n', errors='surrogate_or_strict')
    outputs = []
    reader = threading.Thread(target=lambda: outputs.extend(process.communicate(data)), daemon=True)
    with hangups_noted():
        reader.start()
        while reader.is_alive():
            reader.join(POLL_SECONDS)
            reason = controller_gone() if reader.is_alive() else None
            if reason:
                stopped = _stop_group(process.pid, reader)
                raise ControllerGone('the controller went away (a cancelled job?): %s; %s (pid %d) was stopped '
                                     'with %s' % (reason, argv[0], process.pid, stopped), cmd=argv)
    stdout, stderr = outputs
    return (process.returncode, to_text(stdout, errors='surrogate_or_strict'),
            to_text(stderr, errors='surrogate_or_strict'))


def _stop_group(group, reader):
    """SIGTERM to the group, SIGKILL to what is left after the grace period; say which signal ended it."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, number)
        except ProcessLookupError:
            return 'nothing: it had ended' if number == signal.SIGTERM else 'SIGTERM'
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and _group_alive(group):
            reader.join(POLL_SECONDS)
        if not _group_alive(group):
            return signal.Signals(number).name
    return 'SIGKILL'


def _group_alive(group):
    """Whether a process of ``group`` still runs; zombies do not count (an orphan's may wait long for a reaper)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % name) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != 'Z':
            return True
    return False
