# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A test-only callback: every task result as one JSON line, so tests read results, not screen text.

The recap counts a looped task once and the screen format differs between
ansible-core releases; a line per result (per loop item too) with the host,
the task name and the module's own return values is what a test can assert on.
Lines are flushed as they happen, so a test can follow a run that is still going.
"""

from __future__ import annotations

DOCUMENTATION = r'''
name: result_log
type: notification
short_description: Append every task result as a JSON line to a file (tests only)
description:
  - Writes one JSON object per task result (and per loop item) to the file named by E(LOCKSTEP_RESULT_LOG).
requirements:
  - enable it with C(callbacks_enabled) and point C(callback_plugins) at its directory
'''

import json
import os

from ansible.plugins.callback import CallbackBase

LOG_VARIABLE = 'LOCKSTEP_RESULT_LOG'


class CallbackModule(CallbackBase):
    """Append ``{"status", "host", "task", "item", "result"}`` lines to ``$LOCKSTEP_RESULT_LOG``."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'result_log'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get(LOG_VARIABLE)

    def _log(self, status, result, item):
        if not self._path:
            return
        line = {
            'status': status,
            'host': result._host.get_name(),  # pylint: disable=protected-access
            'task': result._task.get_name(),  # pylint: disable=protected-access
            'item': item,
            'result': json.loads(self._dump_results(result._result)),  # pylint: disable=protected-access
        }
        # One write(2) on an O_APPEND descriptor: a reader polling the log while the run goes
        # on (or after it was killed) only ever sees whole lines.
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, (json.dumps(line, sort_keys=True) + '\n').encode('utf-8'))
        finally:
            os.close(descriptor)

    def v2_runner_on_ok(self, result):
        self._log('ok', result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._log('failed', result, False)

    def v2_runner_on_unreachable(self, result):
        self._log('unreachable', result, False)

    def v2_runner_on_skipped(self, result):
        self._log('skipped', result, False)

    def v2_runner_item_on_ok(self, result):
        self._log('ok', result, True)

    def v2_runner_item_on_failed(self, result):
        self._log('failed', result, True)

    def v2_runner_item_on_skipped(self, result):
        self._log('skipped', result, True)
