# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attacking account (a real second user in the hand-off directory's group) and its racer process."""

from __future__ import annotations

import fcntl
import grp
import json
import os
import pwd
import shlex
import signal
import subprocess
from pathlib import Path

GROUP = 'lsattack'
USER = 'lsattacker'
RACER = Path(__file__).with_name('racer.py')
# The racer runs under the system Python: a venv below /root is not executable by another user.
RACER_PYTHON = '/usr/bin/python3'
_ACCOUNT_LOCK = '/tmp/lockstep-adversarial-account.lock'


def ensure_attacker():
    """Create the group and the user once (idempotent, safe from parallel workers); return ``(uid, gid)``."""
    with open(_ACCOUNT_LOCK, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _exists(grp.getgrnam, GROUP):
            subprocess.run(['groupadd', GROUP], check=True)
        if not _exists(pwd.getpwnam, USER):
            subprocess.run(['useradd', '-M', '-N', '-g', GROUP, '-s', '/bin/sh', USER], check=True)
            subprocess.run(['usermod', '-p', '*', USER], check=True)
    return pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid


def _exists(lookup, name):
    try:
        lookup(name)
    except KeyError:
        return False
    return True


class RacerProcess:
    """``racer.py`` running as the attacker, a real process of the other uid; ready once it watches."""

    def __init__(self, argv, **popen_options):
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        **popen_options)
        ready = self.process.stdout.readline()
        if ready.strip() != 'READY':
            self.process.kill()
            raise RuntimeError('the racer did not start: %r %s' % (ready, self.process.stderr.read()))

    @classmethod
    def local(cls, racer_path, arguments):
        """On this machine: fork, setgroups([]), setgid, setuid to the attacker."""
        return cls([RACER_PYTHON, str(racer_path), *arguments], user=USER, group=GROUP, extra_groups=[])

    @classmethod
    def in_namespace(cls, pid, racer_path, arguments):
        """Inside the mount namespace of process ``pid`` (a fleet host's sshd), through ``su``."""
        command = shlex.join(['exec', RACER_PYTHON, str(racer_path), *arguments])
        return cls(['nsenter', '-t', str(pid), '-m', 'su', USER, '-s', '/bin/sh', '-c', command])

    def stop(self):
        """SIGTERM the racer; return its JSON summary (swaps tried and landed)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError('the racer printed no summary (rc %s): %s %s' % (self.process.returncode, out, err))


def copy_racer(directory):
    """Put ``racer.py`` where the attacker can read it (the checkout may not be); return its path."""
    target = Path(directory) / 'racer.py'
    target.write_bytes(RACER.read_bytes())
    os.chmod(target, 0o644)
    return target
