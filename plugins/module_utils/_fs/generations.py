# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The versions a promotion replaced (``keep_previous``), and putting the newest back (rollback).

Kept versions are ``.NAME.prev-<N>`` beside the file (1 the newest), so a
rollback is one rename(2) onto it: the file is never missing or partial. All
of it runs under the file's lock, on the Directory's fd, and every step is
safe to repeat after a SIGKILL:

- keeping: shift the kept versions up one (dropping those beyond the count),
  copy the file to a temp, fsync, rename it to ``.NAME.prev-1``. A kill leaves
  a gap in the numbers, which the next run closes (``close_gaps``) first.
- rolling back: write the record ``.NAME.rolled-back`` (the sha256 restored),
  rename ``.NAME.prev-1`` onto the file, close the gap. A re-run that finds the
  file matching the record has nothing left to restore: exactly once. A new
  promotion removes the record.

A kept version is only restored when it is a regular file with one link,
owned by this process's user or the file's owner: another user of the
directory can plant a name, never get their data (or a link to a file
elsewhere) put in place.
"""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import copy_file
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile, fchown_quietly
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import sha256_of_fd
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    previous_generation, previous_name, rollback_record_name)


def _own_entry(directory, name):
    """The stat of the kept version or record ``name`` (None when absent), which must be a regular file.

    Renaming or unlinking onto a directory planted at such a name fails half-way
    (EISDIR), so anything but a regular file fails the task here with a reason.
    """
    st = directory.lstat(name)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeFile('%s is not a regular file (a directory, symlink, FIFO or device): another user of the '
                         'directory may have planted it; remove it and re-run the task' % directory.join(name),
                         path=directory.join(name))
    return st


def kept_generations(directory, name):
    """The numbers N of the kept versions ``.NAME.prev-<N>`` present, in increasing order."""
    numbers = (previous_generation(entry, name) for entry in directory.listdir())
    return sorted(number for number in numbers if number is not None)


def close_gaps(directory, name):
    """Renumber the kept versions 1, 2, ... (a killed shift leaves a gap); return how many were renamed."""
    renamed = 0
    for wanted, number in enumerate(kept_generations(directory, name), start=1):
        if number != wanted:
            old = previous_name(name, number)
            directory.rename_verified(old, _own_entry(directory, old), directory, previous_name(name, wanted))
            renamed += 1
    if renamed:
        directory.fsync()
    return renamed


def keep_previous(directory, name, count):
    """Keep a copy of the regular file ``name`` as ``.NAME.prev-1``, at most ``count`` versions; return its path."""
    close_gaps(directory, name)
    for number in reversed(kept_generations(directory, name)):
        old = previous_name(name, number)
        if number >= count:
            directory.unlink_if_same(old, _own_entry(directory, old))
        else:
            directory.rename_verified(old, _own_entry(directory, old), directory, previous_name(name, number + 1))
    kept = previous_name(name, 1)
    src_fd = directory.open_regular(name)
    try:
        fd, temp = directory.create_temp(kept)
        temp_st = os.fstat(fd)
        try:
            try:
                copy_file(src_fd, os.fstat(src_fd), fd)
                temp_st = os.fstat(fd)
            finally:
                os.close(fd)
            directory.rename_verified(temp, temp_st, directory, kept)
        finally:
            directory.unlink_if_same(temp, temp_st)
    finally:
        os.close(src_fd)
    directory.fsync()
    return directory.join(kept)


def forget_rollback(directory, name):
    """A new version is being put in place: the last rollback's record no longer describes it."""
    record = rollback_record_name(name)
    record_st = _own_entry(directory, record)
    if record_st is not None and directory.unlink_if_same(record, record_st):
        directory.fsync()


def _trusted_owners(current_st):
    """The users whose files beside ``name`` (stat ``current_st``, None when absent) count as this task's own:
    root, this process's user and the file's owner, who could replace the file itself anyway."""
    return {0, os.geteuid()} | ({current_st.st_uid} if current_st is not None else set())


def read_rollback_record(directory, name, owners):
    """The last rollback's record ``{restored, replaced}`` (sha256s), or None when there is none or it is not ours.

    Not ours: owned by none of ``owners``, or linked elsewhere too. Another user
    of the directory could otherwise plant a record naming the present version
    as the one restored, and the rollback would report done without restoring.
    """
    try:
        fd = directory.open_regular(rollback_record_name(name))
    except FileNotFoundError:
        return None
    except PermissionError:
        raise HandoffError('the rollback record %s cannot be read by this user; roll back as the user who did the '
                           'last rollback, or as root' % directory.join(rollback_record_name(name)),
                           path=directory.join(rollback_record_name(name)))
    try:
        record_st = os.fstat(fd)
        if record_st.st_uid not in owners or record_st.st_nlink != 1:
            return None
        with os.fdopen(os.dup(fd), 'rb') as stream:
            raw = stream.read(4096)
    finally:
        os.close(fd)
    try:
        record = json.loads(raw.decode('utf-8'))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _write_rollback_record(directory, name, record, data_stats):
    """Write the record through a temp and a rename: a reader sees the old record or the new one, whole.

    It holds the sha256 of each version in ``data_stats`` (the restored one
    first), so it gets no wider mode than any of them, the restored file's
    owner and group where this user may give them (its owner reads it in a
    later rollback), and no group bits unless it has their group: a 0600
    secret's checksum stays as private as the secret.
    """
    target = rollback_record_name(name)
    mode = 0o666
    for data_st in data_stats:
        mode &= stat.S_IMODE(data_st.st_mode)
    fd, temp = directory.create_temp(target, mode)
    temp_st = os.fstat(fd)
    fchown_quietly(fd, data_stats[0].st_uid, data_stats[0].st_gid)
    if any(data_st.st_gid != os.fstat(fd).st_gid for data_st in data_stats):
        os.fchmod(fd, mode & ~0o070)
    try:
        try:
            os.write(fd, json.dumps(record, sort_keys=True).encode('utf-8'))
            os.fsync(fd)
        finally:
            os.close(fd)
        directory.rename_verified(temp, temp_st, directory, target)
    finally:
        directory.unlink_if_same(temp, temp_st)
    directory.fsync()


def _sha256_of(directory, name):
    """``(sha256, stat)`` of the regular file ``name``, or ``(None, None)`` when there is none."""
    try:
        fd = directory.open_regular(name)
    except FileNotFoundError:
        return None, None
    try:
        return sha256_of_fd(fd)[0], os.fstat(fd)
    finally:
        os.close(fd)


def rolled_back_already(directory, name, current=None):
    """The record of the rollback that put the present ``name`` in place, or None; ``current`` is what
    ``_sha256_of`` says of ``name`` when the caller asked already."""
    current, current_st = current if current is not None else _sha256_of(directory, name)
    record = read_rollback_record(directory, name, _trusted_owners(current_st))
    if record is not None and current is not None and record.get('restored') == current:
        return record
    return None


def roll_back(directory, name, before_rename=None):
    """Put ``.NAME.prev-1`` back onto ``name``, exactly once; return ``(changed, sha256 restored, sha256 replaced)``.

    ``before_rename`` (the lock's publish check) runs right before the rename.
    """
    closed = close_gaps(directory, name)
    current, current_st = _sha256_of(directory, name)
    record = rolled_back_already(directory, name, (current, current_st))
    if record is not None:
        return closed > 0, current, record.get('replaced')
    kept = previous_name(name, 1)
    try:
        fd = directory.open_regular(kept)
    except FileNotFoundError:
        raise HandoffError('no previous version of %s is kept (%s): nothing to roll back to. Promotions keep '
                           'one with keep_previous' % (directory.join(name), directory.join(kept)),
                           path=directory.join(name))
    try:
        kept_st = os.fstat(fd)
        if kept_st.st_uid not in _trusted_owners(current_st):
            raise UnsafeFile('%s is owned by uid %d, neither this user nor the owner of %s: another user of the '
                             'directory may have planted it; not restoring it' % (
                                 directory.join(kept), kept_st.st_uid, directory.join(name)),
                             path=directory.join(kept))
        if kept_st.st_nlink != 1:
            raise UnsafeFile('%s has %d hard links, and a kept version has one: another user of the directory may '
                             'have linked another file there; not restoring it' % (
                                 directory.join(kept), kept_st.st_nlink), path=directory.join(kept))
        restored = sha256_of_fd(fd)[0]
    finally:
        os.close(fd)
    _write_rollback_record(directory, name, dict(restored=restored, replaced=current),
                           [st for st in (kept_st, current_st) if st is not None])
    if before_rename is not None:
        before_rename()
    directory.rename_verified(kept, kept_st, directory, name)
    directory.fsync()
    close_gaps(directory, name)
    return True, restored, current
