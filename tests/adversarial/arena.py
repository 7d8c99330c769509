# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a path's trials run: a shared inbox the attacker's group may write, root-only canaries outside it.

Layout below a fresh directory the attacker can traverse (0755 root)::

    canaries/tNNN     one root-only canary per trial (0600 root, known bytes): what the racer's links point to
    private/          root's own files (sources, staged uploads, module arguments): 0700
    inbox/tNNN/       the trial's shared directory: 2775 root:GROUP, as a real inbox
    xdev/tNNN/        the same on another filesystem (a small tmpfs), for cross-device moves

After each trial, ``verdict`` names every way the trial was compromised:
a canary whose bytes, mode or owner changed; canary bytes in any file of
the trial's directories or in the task's output; a done marker wider than
its data.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

SHARED_MODE = 0o2775
CANARY_MODE = 0o600


class Arena:
    """One path's directories, canaries and checks."""

    def __init__(self, gid, trials, cross_device):
        self.gid = gid
        self.base = Path(tempfile.mkdtemp(prefix='lockstep-adversarial-'))
        os.chmod(self.base, 0o755)
        self.secret = ('CANARY-%s' % secrets.token_hex(16)).encode()
        self.canary_bytes = b'root-only secret ' + self.secret + b'\n'
        self.canaries = self._directory('canaries', 0o755, 0)
        self.private = self._directory('private', 0o700, 0)
        self.inbox = self._directory('inbox', SHARED_MODE, gid)
        self.xdev = None
        if cross_device:
            self.xdev = self._directory('xdev', 0o755, 0)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m,mode=2775,gid=%d' % gid, 'tmpfs', str(self.xdev)],
                           check=True)
        self.trials = ['t%03d' % number for number in range(trials)]
        for trial in self.trials:
            self.write_canary(trial)
            self._shared(self.inbox / trial)
            if self.xdev:
                self._shared(self.xdev / trial)

    def _directory(self, name, mode, gid):
        path = self.base / name
        path.mkdir()
        os.chown(path, 0, gid)
        os.chmod(path, mode)
        return path

    def _shared(self, path):
        """A directory of the inbox: 2775 root:GROUP, as its setgid parent would make it."""
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, self.gid)
        os.chmod(path, SHARED_MODE)
        return path

    def shared(self, trial, *parts, xdev=False):
        """A shared subdirectory of ``trial`` (made now, before the racer starts watching)."""
        return self._shared(Path(self.xdev if xdev else self.inbox, trial, *parts))

    def canary(self, trial):
        return self.canaries / trial

    def write_canary(self, trial):
        """(Re)write the trial's canary: known bytes, 0600, root:root."""
        path = self.canary(trial)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, CANARY_MODE)
        try:
            os.write(fd, self.canary_bytes)
            os.fchmod(fd, CANARY_MODE)
            os.fchown(fd, 0, 0)
        finally:
            os.close(fd)

    def canary_state(self, trial):
        st = os.lstat(self.canary(trial))
        return dict(kind=stat.S_IFMT(st.st_mode), mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
                    data=Path(self.canary(trial)).read_bytes() if stat.S_ISREG(st.st_mode) else None)

    def roots(self):
        return [self.inbox] + ([self.xdev] if self.xdev else [])

    def trial_directories(self, trial):
        return [root / trial for root in self.roots()]

    def verdict(self, trial, output=''):
        """Every compromise of the invariant this trial shows (restoring its canary when it changed)."""
        found = []
        expected = dict(kind=stat.S_IFREG, mode=CANARY_MODE, uid=0, gid=0, data=self.canary_bytes)
        state = self.canary_state(trial)
        for field in expected:
            if state[field] != expected[field]:
                found.append('canary_changed:%s' % field)
        if found:
            self.write_canary(trial)
        if self.secret.decode() in output:
            found.append('canary_leaked:task_output')
        canary_st = os.lstat(self.canary(trial))
        for directory in self.trial_directories(trial):
            found.extend(self._leaks_and_markers(directory, (canary_st.st_dev, canary_st.st_ino)))
        return found

    def _leaks_and_markers(self, top, canary_inode):
        """Canary bytes in a file of ``top`` (a hard link to the canary itself is the attacker's, not a leak)."""
        found = []
        for directory, dummy, names in os.walk(top):
            for name in names:
                path = os.path.join(directory, name)
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) == canary_inode:
                    continue
                if self.secret in _read_regular(path):
                    found.append('canary_leaked:%s' % os.path.relpath(path, top))
                if name.endswith('.done'):
                    found.extend(_wider_marker(path, st))
        return found

    def remove(self):
        if self.xdev:
            subprocess.run(['umount', '-l', str(self.xdev)], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def _read_regular(path):
    """The bytes of a regular file, read without following a link or blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b''
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b''
        with os.fdopen(os.dup(fd), 'rb') as handle:
            return handle.read()
    finally:
        os.close(fd)


def _wider_marker(marker_path, marker_st):
    """``['marker_wider:NAME']`` when a marker grants a permission its (regular) data file does not."""
    data_path = marker_path[:-len('.done')]
    try:
        data_st = os.lstat(data_path)
    except FileNotFoundError:
        return []
    if not stat.S_ISREG(data_st.st_mode):
        return []
    extra = stat.S_IMODE(marker_st.st_mode) & ~stat.S_IMODE(data_st.st_mode) & 0o777
    if extra:
        modes = (stat.S_IMODE(marker_st.st_mode), stat.S_IMODE(data_st.st_mode))
        return ['marker_wider:%s(%o>%o)' % ((os.path.basename(marker_path),) + modes)]
    return []


def parse_marker(path):
    """The JSON object of a regular marker file, or None when it is not one."""
    raw = _read_regular(path)
    try:
        doc = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
