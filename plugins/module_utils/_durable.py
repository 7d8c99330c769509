# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durable publication: temp in the same directory, fsync, rename, fsync the directory.

``rename(2)`` within one directory is atomic, so a reader sees the old file or
the new one; the fsyncs make the new name survive a power cut as well.
"""

from __future__ import annotations

import os
import re
import secrets

TEMP_SUFFIX = '.tmp'
_TOKEN_BYTES = 6
_TEMP_ATTEMPTS = 16
_TEMP_NAME = re.compile(r'\.(.+)\.[0-9a-f]{%d}%s' % (2 * _TOKEN_BYTES, re.escape(TEMP_SUFFIX)), re.DOTALL)


def fsync_directory(path):
    """Flush a directory's entries (a rename is only durable once this returns)."""
    fd = os.open(path or '.', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_prefix(dest):
    """The name prefix every protocol temp file for ``dest`` starts with: ``.NAME.``."""
    return '.%s.' % os.path.basename(dest)


def is_temp_of(dest, candidate):
    """True when ``candidate`` is exactly ``DIR/.NAME.<12 hex>.tmp`` for ``dest``.

    Exact, so that the marker's own temp (``.NAME.done.<hex>.tmp``) is not
    taken for a temp of ``NAME``.
    """
    if os.path.dirname(os.path.abspath(candidate)) != os.path.dirname(os.path.abspath(dest)):
        return False
    name = os.path.basename(candidate)
    prefix = temp_prefix(dest)
    token = name[len(prefix):-len(TEMP_SUFFIX)]
    return (name.startswith(prefix) and name.endswith(TEMP_SUFFIX) and len(token) == 2 * _TOKEN_BYTES
            and all(c in '0123456789abcdef' for c in token))


def temp_target_name(name):
    """``NAME`` when ``name`` is a protocol temp file name ``.NAME.<12 hex>.tmp``, else None."""
    match = _TEMP_NAME.fullmatch(name)
    return match.group(1) if match else None


def temps_of(dest):
    """Protocol temp files for ``dest`` present in its directory (left by interrupted uploads, or live)."""
    directory = os.path.dirname(dest) or '.'
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(directory, name) for name in names
                  if is_temp_of(dest, os.path.join(directory, name)))


def temps_for_names(directory, names):
    """Protocol temps in ``directory`` of any of ``names``, from one listing (not one per name).

    A drain moving hundreds of files into one directory would otherwise list
    it once per file.
    """
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    wanted = set(names)
    return sorted(os.path.join(directory, entry) for entry in entries if temp_target_name(entry) in wanted)


def create_temp_beside(dest, mode=0o600):
    """Create ``DIR/.NAME.<random>.tmp`` exclusively (never through a symlink); return ``(fd, path)``."""
    directory = os.path.dirname(dest) or '.'
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    attempts_left = _TEMP_ATTEMPTS
    while True:
        path = os.path.join(directory, '%s%s%s' % (temp_prefix(dest), secrets.token_hex(_TOKEN_BYTES), TEMP_SUFFIX))
        try:
            fd = os.open(path, flags, mode)
        except FileExistsError:
            attempts_left -= 1
            if not attempts_left:
                raise
            continue
        os.fchmod(fd, mode)
        return fd, path


def publish_durably(temp_path, dest):
    """Rename a complete, fsynced temp file onto ``dest`` and make the rename durable."""
    os.rename(temp_path, dest)
    fsync_directory(os.path.dirname(dest))


def write_bytes_durably(dest, data, mode=0o644):
    """Write ``data`` to ``dest`` by the full protocol: temp, write, fsync, rename, fsync dir."""
    fd, temp = create_temp_beside(dest)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        publish_durably(temp, dest)
    except BaseException:
        remove_quietly(temp)
        raise


def remove_durably(path):
    """Unlink ``path`` if it exists and flush its directory; return whether it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_directory(os.path.dirname(path))
    return True


def remove_quietly(path):
    """Best-effort unlink for clean-up paths, where the original error matters more."""
    try:
        os.unlink(path)
    except OSError:
        pass
