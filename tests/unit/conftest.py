# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Import path and shared fixtures for the unit tests.

``scripts/bootstrap`` links the repository at ``.build/ansible_collections/lockstep/handoff``;
putting ``.build`` first on ``sys.path`` makes ``ansible_collections.lockstep.handoff``
importable for a plain ``pytest tests/unit``. Under ``ansible-test units`` there is
no ``.build`` next to the copied collection and ansible-test's own loader is used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_BUILD = Path(__file__).resolve().parents[2] / '.build'
if (_BUILD / 'ansible_collections').is_dir() and str(_BUILD) not in sys.path:
    sys.path.insert(0, str(_BUILD))

FLOCK = shutil.which('flock') or '/usr/bin/flock'


def _skip_or_fail(reason):
    """Skip with ``reason``; in CI (``CI=true``) a skip would hide a gap, so fail instead."""
    if os.environ.get('CI') == 'true':
        pytest.fail('%s (CI=true: this test must run, not skip)' % reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def as_root():
    """Tests that mount filesystems or change user need root."""
    if os.geteuid() != 0:
        _skip_or_fail('needs root (mount, setuid); running as uid %d' % os.geteuid())


@pytest.fixture
def mount_tmpfs(as_root):
    """``mount_tmpfs(path, 'size=128k', ...)``: a real tmpfs at ``path``, unmounted when the test ends."""
    mounted = []

    def mount(path, *options):
        path.mkdir()
        done = subprocess.run(['mount', '-t', 'tmpfs', '-o', ','.join(options), 'tmpfs', str(path)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            _skip_or_fail('cannot mount a tmpfs: %s' % done.stderr.strip())
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(['umount', str(path)], check=True)


@pytest.fixture
def flock_cmd():
    """Path of util-linux ``flock(1)``."""
    if not os.access(FLOCK, os.X_OK):
        _skip_or_fail('util-linux flock(1) is not installed')
    return FLOCK


@pytest.fixture
def make_module(monkeypatch):
    """``make_module(argument_spec, check_mode=False, diff=False, **params)``: a real AnsibleModule.

    Built from the arguments exactly as on a target host, so backends get validated
    params, defaults, and the real file-attribute and backup helpers; its options
    are checked as every module's entry checks them (``check_module_options``).
    """
    from ansible.module_utils import basic
    from ansible_collections.lockstep.handoff.plugins.module_utils._runner import check_module_options

    def make(argument_spec, check_mode=False, diff=False, **params):
        args = dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
        if hasattr(basic, '_ANSIBLE_PROFILE'):
            monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy')
        module = basic.AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                                     add_file_common_args=True)
        check_module_options(module)
        return module

    return make


class Holder:
    """A process holding a lock until ``release()``; ``args`` is its command line."""

    def __init__(self, args):
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line != 'held\n':
            self.release()
            raise AssertionError('lock holder %r did not report the lock: %r' % (args, line))

    @property
    def pid(self):
        return self.proc.pid

    @property
    def command(self):
        return ' '.join(self.args)

    def release(self):
        """Close the holder's stdin: it leaves its ``read`` and exits, dropping the lock."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def hold_lock(flock_cmd):
    """``hold_lock(path, *flock_options)``: util-linux ``flock(1)`` holds ``path`` until released.

    ``hold_lock(path, kind='fcntl')`` instead has another Python process hold a POSIX
    (``lockf``) lock. Every holder is released when the test ends.
    """
    holders = []

    def hold(path, *options, kind='flock'):
        if kind == 'flock':
            args = [flock_cmd, *options, str(path), 'sh', '-c', 'echo held; read _']
        else:
            args = [sys.executable, '-c', _FCNTL_HOLDER, str(path)]
        holders.append(Holder(args))
        return holders[-1]

    yield hold
    for holder in holders:
        holder.release()


_FCNTL_HOLDER = '''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
'''
