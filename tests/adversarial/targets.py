# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real target-side code, run as root in a subprocess with a deadline: modules and handoff.sh."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANDOFF_SH = REPO / 'roles' / 'agent' / 'files' / 'handoff.sh'
MODULES = 'ansible_collections.lockstep.handoff.plugins.modules.'
# Longer than any trial's own lock_timeout/timeout: a run still going then is hung.
HANG_AFTER = 10.0

_numbers = itertools.count()


class Run:
    """What one run of target code did: ``result`` (the module's JSON, or a synthetic one), ``hung``, the output."""

    def __init__(self, result, hung, output):
        self.result = result
        self.hung = hung
        self.output = output

    @property
    def failed(self):
        return self.hung or bool(self.result.get('failed'))

    @property
    def msg(self):
        return self.result.get('msg') or ''

    @property
    def clear_failure(self):
        """A failure that says what went wrong (not a hang, not a traceback instead of a result)."""
        return self.failed and not self.hung and bool(self.msg) and not self.result.get('crashed')


def run_module(module, args, scratch, timeout=HANG_AFTER):
    """Run ``plugins/modules/<module>.py`` as AnsibleModule does on a target: argv[1] names an args JSON file."""
    args_file = Path(scratch) / ('args-%d.json' % next(_numbers))
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=str(REPO / '.build'))
    try:
        rc, stdout, stderr = _run([sys.executable, '-m', MODULES + module, str(args_file)], timeout, env, scratch)
    finally:
        args_file.unlink()
    output = stdout + stderr
    if rc is None:
        return Run(dict(failed=True, msg='hung: no result after %.0f s' % timeout), True, output)
    try:
        result = json.loads(stdout.strip())
    except ValueError:
        result = dict(failed=True, crashed=True, msg='module crashed (rc %d): %s' % (rc, output[-2000:]))
    return Run(result, False, output)


def run_handoff_sh(arguments, scratch, timeout=HANG_AFTER, env=None):
    """Run ``bash handoff.sh ARGS...``; exit status 0 is success, anything else must say why on stderr."""
    environment = dict(os.environ, HANDOFF_LOCK_TIMEOUT='2', **(env or {}))
    rc, stdout, stderr = _run(['bash', str(HANDOFF_SH), *map(str, arguments)], timeout, environment, scratch)
    if rc is None:
        return Run(dict(failed=True, msg='hung: no exit after %.0f s' % timeout), True, stdout + stderr)
    return Run(dict(rc=rc, failed=rc != 0, msg=stderr.strip(), stdout=stdout), False, stdout + stderr)


def _run(argv, timeout, env, cwd):
    """``(rc, stdout, stderr)``; rc None when it outlived ``timeout`` (its whole process group is then killed:
    a ``cat`` blocked on a FIFO would otherwise hold the pipes open)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True, env=env, cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout, stderr
    return process.returncode, stdout, stderr
