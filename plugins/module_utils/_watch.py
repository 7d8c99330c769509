# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wake on directory changes with inotify (through ctypes, no dependency).

A marker renamed into place is noticed within milliseconds instead of at the
next poll. Where inotify is missing (not Linux, no libc, watch limit reached,
directory not there yet) the caller's interval is simply slept; ``method``
says which of the two is in use so results can report it.
"""

from __future__ import annotations

import ctypes
import os
import select
import time

_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_ONLYDIR = 0x400, 0x800, 0x01000000
_WATCH_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
               | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF)


def _load_libc():
    """The C library when it offers inotify, else None.

    ``CDLL(None)`` is the running interpreter with the libc it is linked
    against (glibc or musl); ``ctypes.util.find_library`` would spawn
    ``ldconfig -p`` on every module run to find the same library.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, 'inotify_init1') and hasattr(libc, 'inotify_add_watch'):
        return libc
    return None


class DirectoryWatcher:
    """Sleeps until one of some directories changes, or a timeout passes."""

    def __init__(self, directories):
        self._directories = sorted(set(directories))
        self._watched = set()
        self._fd = None
        self._libc = _load_libc()
        if self._libc is not None:
            fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd >= 0:
                self._fd = fd
        self._add_missing_watches()

    @property
    def method(self):
        """``inotify`` when every directory is watched, else ``poll``."""
        return 'inotify' if self._fd is not None and len(self._watched) == len(self._directories) else 'poll'

    def _add_missing_watches(self):
        if self._fd is None:
            return
        for directory in self._directories:
            if directory in self._watched:
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), _WATCH_MASK | _IN_ONLYDIR)
            if wd >= 0:
                self._watched.add(directory)

    def wait(self, timeout):
        """Return after an event in a watched directory, or after ``timeout`` seconds."""
        self._add_missing_watches()
        if self.method == 'poll':
            time.sleep(timeout)
            return
        readable = select.select([self._fd], [], [], timeout)[0]
        if readable:
            try:
                while os.read(self._fd, 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self):
        """Drop the inotify descriptor (and with it every watch)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
