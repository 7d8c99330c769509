# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Follow ansible-playbook runs against a fleet: per-task results, background runs, host processes.

The fleet harness runs a playbook to completion and parses the recap. Fault and
race tests need more: the return values of every task and loop item (from the
``result_log`` callback), runs started in the background so that several race
or one is killed, and the processes a run leaves on a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.ansible_run import PlaybookRun, ansible_env, parse_recap, playbook_command, write_playbook
from tests.support.processes import kill_tree

CALLBACK_DIR = Path(__file__).resolve().parent / 'callback_plugins'
# Seconds to wait for what only a hang would keep from happening (a run to start, a module to
# reach a lock): a CI machine shared with other jobs can be very slow, and no verdict rests on it.
PATIENCE = 600
_STARTED = []


class ResultLog:
    """The JSON lines the ``result_log`` callback writes: one per task result and per loop item."""

    def __init__(self, path):
        self.path = Path(path)

    def env(self):
        """Environment that makes ansible-playbook write this log."""
        return {
            'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACK_DIR),
            'ANSIBLE_CALLBACKS_ENABLED': 'result_log',
            'LOCKSTEP_RESULT_LOG': str(self.path),
        }

    def records(self):
        """Every complete line so far (a run may still be writing the last one)."""
        try:
            text = self.path.read_text(encoding='utf-8')
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith('\n')]

    def results(self, task, host=None, items=None):
        """Records of ``task`` (by name), optionally of one ``host`` and only loop items or only whole tasks."""
        return [record for record in self.records()
                if record['task'] == task and (host is None or record['host'] == host)
                and (items is None or record['item'] == items)]

    def one(self, task, host):
        """The single result of a task without a loop on ``host``."""
        found = self.results(task, host, items=False)
        assert len(found) == 1, 'expected one result of %r on %s, got %s' % (task, host, found)
        return found[0]


@dataclass
class BackgroundRun:
    """An ansible-playbook started with ``start_playbook``; ``finish()`` waits and parses it."""

    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    def finish(self, timeout=PATIENCE):
        """Wait for the run (or its killed remains) and return a PlaybookRun."""
        self.process.wait(timeout=timeout)
        stdout = self.stdout_path.read_text(errors='replace')
        stderr = self.stderr_path.read_text(errors='replace')
        return PlaybookRun(self.process.returncode, stdout, stderr, parse_recap(stdout))


def start_playbook(fleet, playbook, output_dir, extra_vars=None, env=None, args=()):
    """Start ansible-playbook against ``fleet`` without waiting; output goes to files in ``output_dir``.

    ``playbook`` is a path, or the YAML itself when it has several lines (as with the harness).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if '\n' in str(playbook):
        playbook = write_playbook(playbook, output_dir)
    stdout_path = output_dir / 'stdout.txt'
    stderr_path = output_dir / 'stderr.txt'
    with open(stdout_path, 'wb') as stdout, open(stderr_path, 'wb') as stderr:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            playbook_command(playbook, fleet.inventory, extra_vars, args),
            env=ansible_env({**fleet.ansible_env, **(env or {})}),
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    _STARTED.append(process)
    return BackgroundRun(process, stdout_path, stderr_path)


def kill_leftover_runs():
    """Kill (whole tree) every run ``start_playbook`` started that is still going: a test that failed
    half-way must not leave a run behind to act on the hosts, or on the next test's files."""
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            kill_tree(process.pid)
            process.wait()


def host_processes(host, needle):
    """Pids of live processes inside ``host`` (its mount namespace) whose command line contains ``needle``.

    Module processes run inside the host's namespace as the login user; the
    controller can see them because the fleet shares one PID namespace.
    """
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == host.pid:
            continue
        try:
            if os.readlink('/proc/%s/ns/mnt' % name) != host.mntns:
                continue
            with open('/proc/%s/cmdline' % name, 'rb') as handle:
                command = handle.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if needle in command:
            found.append(int(name))
    return found


def open_paths(pid):
    """Paths of the files ``pid`` has open, as its own mount namespace names them (empty once it exits)."""
    try:
        descriptors = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return set()
    paths = set()
    for descriptor in descriptors:
        try:
            paths.add(os.readlink('/proc/%d/fd/%s' % (pid, descriptor)))
        except OSError:
            continue
    return paths


def processes_with_open(host, needle, path):
    """Pids of processes inside ``host`` (command line containing ``needle``) that have ``path`` open:
    a module polling for a lock has the lock file open, a module watching for a marker
    ``anon_inode:inotify``. That is how a test knows a module is waiting, not just started."""
    return [pid for pid in host_processes(host, needle) if path in open_paths(pid)]


def inside(host, path):
    """``path`` as ``host`` sees it, through ``/proc/<sshd pid>/root``: no process to start, so cheap
    enough to poll every few milliseconds while a transfer runs (``host.run`` costs a fork and exec)."""
    return Path('/proc/%d/root%s' % (host.pid, path))


def wait_for(condition, timeout, interval=0.01, what='condition'):
    """Poll ``condition`` until it returns something true; return it, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(interval)
