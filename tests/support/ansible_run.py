# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run real ansible-playbook from tests and read its recap.

Every test that drives Ansible goes through here, so the environment (the
collection path, no colour, no retry files) is the same for all of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / '.build'
_ADHOC_STATUS = re.compile(r'^(\S+) \| (SUCCESS|CHANGED|FAILED|UNREACHABLE)!?', re.M)


def bin_path(name):
    """The executable ``name`` from the venv running these tests (the controller under test)."""
    return str(Path(sys.executable).parent / name)


def ansible_env(extra=None):
    """The environment for ansible commands: this checkout's collection, plain output."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_HOST_KEY_CHECKING='False',
        ANSIBLE_DEPRECATION_WARNINGS='0',
        PYTHONUNBUFFERED='1',
    )
    env.update(extra or {})
    return env


@dataclass
class PlaybookRun:
    """What one ansible-playbook run printed, with the recap parsed per host."""

    returncode: int
    stdout: str
    stderr: str
    recap: dict = field(default_factory=dict)

    def counts(self, host):
        """The recap counts (ok, changed, failed, unreachable, ...) of ``host``."""
        return self.recap[host]


@dataclass
class AdHocRun:
    """What one ``ansible`` ad-hoc run printed, with each host's status (SUCCESS, CHANGED, ...)."""

    returncode: int
    stdout: str
    stderr: str
    status: dict = field(default_factory=dict)


def parse_recap(stdout):
    """PLAY RECAP lines (``h1 : ok=2 changed=1 ...``) as ``{"h1": {"ok": 2, "changed": 1, ...}}``."""
    recap_at = stdout.rfind('PLAY RECAP')
    if recap_at < 0:
        return {}
    return {m[1]: {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m[2])}
            for m in re.finditer(r'^(\S+)\s+:\s+(ok=.*)$', stdout[recap_at:], re.M)}


def write_playbook(text, directory=None):
    """Write playbook YAML to a temp file and return its path."""
    fd, path = tempfile.mkstemp(suffix='.yml', dir=directory)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    return path


def playbook_command(playbook, inventory, extra_vars=None, args=()):
    """The argv of an ansible-playbook run."""
    command = [bin_path('ansible-playbook'), '-i', str(inventory), str(playbook)]
    if extra_vars:
        command += ['-e', json.dumps({key: str(value) if isinstance(value, Path) else value
                                      for key, value in extra_vars.items()})]
    return command + list(args)


def run_playbook(playbook, inventory, extra_vars=None, env=None, args=(), timeout=600):
    """Run ansible-playbook to completion; return a PlaybookRun."""
    done = subprocess.run(playbook_command(playbook, inventory, extra_vars, args), env=ansible_env(env),
                          capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    return PlaybookRun(done.returncode, done.stdout, done.stderr, parse_recap(done.stdout))


def run_adhoc(inventory, pattern, *args, env=None, timeout=600):
    """Run ``ansible -i INVENTORY PATTERN ARGS...``; return an AdHocRun."""
    done = subprocess.run([bin_path('ansible'), '-i', str(inventory), pattern, *args], env=ansible_env(env),
                          capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    return AdHocRun(done.returncode, done.stdout, done.stderr, dict(_ADHOC_STATUS.findall(done.stdout)))


def local_inventory(directory):
    """An inventory of one local host using the controller's own Python."""
    path = Path(directory) / 'local.ini'
    path.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return path
