# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real second account for attack tests: a member of a shared hand-off directory's group.

The attacker acts through ``su`` as that user, so what it can do is what the
kernel lets another user of the directory do, no more.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import subprocess
import time
from collections import namedtuple

import pytest

USER = 'lscore-attacker'
GROUP = 'lscore-shared'

Attacker = namedtuple('Attacker', 'name uid gid group')


def ensure_attacker():
    """Create the attacker account and its group once (needs root); return an Attacker."""
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(['groupadd', GROUP], check=False, capture_output=True)
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(['useradd', '-M', '-N', '-g', GROUP, USER], check=False, capture_output=True)
        subprocess.run(['usermod', '-p', '*', USER], check=True, capture_output=True)
    entry = pwd.getpwnam(USER)
    return Attacker(USER, entry.pw_uid, entry.pw_gid, GROUP)


def run_as(attacker, script):
    """Run the shell ``script`` as the attacker; fail the test when it fails."""
    done = subprocess.run(['su', attacker.name, '-s', '/bin/sh', '-c', script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, 'attacker script failed: %s\n%s' % (script, done.stderr)


def shared_directory(path, attacker):
    """Make ``path`` the realistic shared inbox: ``root:GROUP`` 2775 (members may rename each other's entries)."""
    path.mkdir(exist_ok=True)
    os.chown(path, 0, attacker.gid)
    os.chmod(path, 0o2775)
    for parent in path.parents:
        if not os.stat(parent).st_mode & 0o001:
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    return path


def plant_backup_names(attacker, directory, name, target, seconds=30):
    """As the attacker, plant ``name``'s backup names (``NAME.<this pid>.<YYYY-MM-DD@HH:MM:SS>~``, for each of the
    next ``seconds``) in ``directory`` as symlinks to ``target``."""
    now = time.time()
    names = ['%s.%d.%s' % (name, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime(now + second)))
             for second in range(seconds)]
    run_as(attacker, ' && '.join('ln -s %s %s' % (target, os.path.join(str(directory), planted)) for planted in names))


def temp_in(directory):
    """The one protocol temp file in ``directory`` (a test's task is writing it)."""
    (name,) = [name for name in os.listdir(directory) if name.endswith('.tmp')]
    return directory / name


def swap_temp_after_copy(monkeypatch, module, directory, attacker, target):
    """Make ``module.copy_with_sha256`` hand over to ``attacker`` right after the copy: the attacker renames
    the temp in ``directory`` away and plants a symlink to ``target`` at its name, as a racing group member could."""
    real_copy = module.copy_with_sha256

    def copy_then_swap(src_fd, dst_fd):
        copied = real_copy(src_fd, dst_fd)
        temp = temp_in(directory)
        run_as(attacker, 'mv %s %s/stolen && ln -s %s %s' % (temp, directory, target, temp))
        return copied

    monkeypatch.setattr(module, 'copy_with_sha256', copy_then_swap)


def canary_file(path):
    """A root-only file the attack aims at: 0600 root, known content."""
    path.write_bytes(b'root-only canary\n')
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    return path


def unchanged(canary):
    """True when the canary still is root's 0600 file with its content."""
    st = os.lstat(canary)
    with open(canary, 'rb') as handle:
        content = handle.read()
    return (st.st_uid, st.st_gid, st.st_mode & 0o7777, content) == (0, 0, 0o600, b'root-only canary\n')


@pytest.fixture
def attacker(as_root):
    return ensure_attacker()


class Hung(Exception):
    """The code under test blocked (on a FIFO, say) instead of refusing at once."""


@pytest.fixture
def fails_instead_of_hanging():
    """Turn a hang of more than 10 s into a test failure (SIGALRM interrupts the blocked system call)."""
    def on_alarm(signum, frame):
        raise Hung('blocked for 10 s: something opened or read a FIFO')

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
