"""Write every task result of a run as one JSON line to the file named by LOCKSTEP_RESULT_LOG.

Tests read a module's return values from here rather than from the screen output,
which is wrapped, abridged and differs between ansible-core versions. Each line is
written with one ``write`` on a file opened for appending, so a reader polling the
file while the run goes on (or after it was killed) only ever sees whole lines.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: result_log
    type: aggregate
    short_description: task results as JSON lines, for the test suite
    description:
      - One line per task result and per loop item, with the task name, host and status.
    options: {}
"""


class CallbackModule(CallbackBase):
    """Append ``{"task", "host", "item", "status", "result"}`` per result to $LOCKSTEP_RESULT_LOG."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'result_log'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ['LOCKSTEP_RESULT_LOG']

    def _record(self, result, status, item):
        line = json.dumps({
            'task': result._task.get_name(),
            'host': result._host.get_name(),
            'item': item,
            'status': status,
            'result': result._result,
        }, default=str) + '\n'
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode('utf-8'))
        finally:
            os.close(descriptor)

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok', False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed', False)

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped', False)

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable', False)

    def v2_runner_item_on_ok(self, result):
        self._record(result, 'ok', True)

    def v2_runner_item_on_failed(self, result):
        self._record(result, 'failed', True)

    def v2_runner_item_on_skipped(self, result):
        self._record(result, 'skipped', True)
