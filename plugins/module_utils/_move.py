# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``locked_move``: exactly once, under a lock, never a partial dest.

Order under the lock: re-judge the marker and checksum, move the data (rename,
or across filesystems copy to a temp beside dest, fsync, rename, then unlink
the source), then deal with the marker. A crash between two steps leaves
either the source or a complete dest, and a re-run finishes the rest.
"""

from __future__ import annotations

import collections
import errno
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import (
    apply_file_attributes, marker_attributes, uid_of)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import back_up
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile, same_inode
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import remove_durably, temps_of, write_bytes_durably
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.generations import forget_rollback, keep_previous
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import stop_if_controller_gone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError, NotYet
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import copy_with_sha256, sha256_of_fd, sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import (
    lock_settings, optional_lock, takes_lock_file)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    STATE_COMPLETE, Marker, MarkerError, read_marker_bytes)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    default_lock_path, default_marker_path, kept_version_path)
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import FAILED, READY, WAITING, Observation, observe, observe_entry
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explain, explained
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import make_parent_directories
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_not_directory, check_planned_files


HOLDER = 'lockstep.handoff.locked_move'


class _SourceVanished(Exception):
    """Another consumer moved the source between our look and our rename."""


def _may_move_as_is(marker_st, data_st):
    """True when the marker's inode may be renamed to dest as it is: owned like the data, no wider, one link.

    Anything else (another user's marker swapped in after the judgement, with
    their owner or a wider mode) is rewritten at dest instead, with the data's
    owner and no wider mode, so dest's directory never receives their inode.
    """
    if data_st is None:
        return False
    mode, owner = marker_attributes(data_st)
    return ((marker_st.st_uid, marker_st.st_gid) == owner and marker_st.st_nlink == 1
            and not stat.S_IMODE(marker_st.st_mode) & ~mode)


def _gives_away(owner, src_st):
    """True when the task makes another user's src someone else's: then it is copied, never renamed.

    Its producer may hold the inode open (or mapped) for writing; renamed and
    chowned, it would be another owner's dest that they can still change.
    """
    if src_st.st_uid == os.geteuid() or owner is None:
        return False
    return uid_of(owner) != src_st.st_uid


class NotReady(HandoffError):
    """The source's marker is missing, malformed or does not describe it (yet)."""


class NotMarkedYet(NotReady, NotYet):
    """The source has no marker that describes it yet: a wait for its producer would help."""


class ProducerFailed(HandoffError):
    """The source's marker says the producer failed."""


def _still_describes(marker, seen, data_st):
    """True when the marker read for moving is the one judged, or a complete one describing the moved data."""
    if seen is not None and seen.marker is not None and marker.to_dict() == seen.marker.to_dict():
        return True
    if seen is None:
        return True
    if marker.state != STATE_COMPLETE:
        return False
    return marker.legacy or (marker.sha256 == seen.sha256 and marker.size in (None, data_st.st_size))


def report_leftover_temps(module, result, temps, where):
    """Name in ``result`` and a warning the temps a killed cross-device copy left (never removed here: an
    ``atomic_upload`` to the same path may be writing one right now, outside the lock)."""
    if temps:
        result['leftover_temps'] = temps
        module.warn('%d temp file(s) of %s are present: partial copies of a move that was killed, or an '
                    'upload to that path in progress; once no upload is running, remove them (%s)'
                    % (len(temps), where, ', '.join(temps)))
    return result


MoveOptions = collections.namedtuple('MoveOptions', [
    'state_dir', 'create_parents', 'lock_type', 'marker', 'require_marker', 'verify_checksum', 'require_checksum',
    'force', 'backup', 'keep_previous', 'owner'])
MoveOptions.__doc__ = """The options a Move reads (locked_move's, by name), given to it explicitly: a file of a batch
passes its own (the task's overridden by the item's), never the task's top-level ones by accident."""


def move_options(params):
    """The MoveOptions held by ``params`` (a module's, or one file's of a batch)."""
    return MoveOptions(**{name: params[name] for name in MoveOptions._fields})


class Move:
    """Moving one file, exactly once.

    With ``entry`` (a FileEntry of the manifest at ``marker_path`` that
    describes the directory ``set_directory``) the file is one of a set: it is
    judged against its entry, and the manifest is left to the caller, who
    handles it once the whole set has moved. A drain passes the ``lock_options``
    (``lock_settings``) its moves share, so each lock directory is judged once.
    ``options`` (MoveOptions) say how to move; ``module`` gives check mode,
    warnings and the file attributes (mode, owner, group) to apply.
    """

    def __init__(self, module, options, src, dest, marker_path=None, dest_marker_path=None, lock_path=None,
                 entry=None, set_directory=None, lock_options=None):
        self.module = module
        self.options = options
        self.src = src
        self.dest = dest
        state_dir = options.state_dir
        self.marker_path = marker_path or default_marker_path(src, state_dir)
        self.dest_marker_path = dest_marker_path or default_marker_path(dest, state_dir)
        self.lock_path = lock_path or default_lock_path(dest, state_dir)
        self.entry = entry
        self.set_directory = set_directory
        # The directories of a set's files are part of the set: made as needed.
        self.create_parents = options.create_parents or entry is not None
        self.lock = None
        self.lock_options = lock_options

    def run(self):
        """Move under the lock, then name the temps a killed copy left beside dest.

        Check mode looks once and waits for nothing: a source its producer has
        not published (or marked) yet is reported, not failed, as the producer's
        own task changed nothing in check mode either.
        """
        try:
            result = self.move_under_lock()
        except NotYet as exc:
            if not self.module.check_mode:
                raise
            return self._result(False, 'check mode looks once: %s; a real run moves it once its producer has '
                                'published it' % exc.reason, lock_wait=0.0, lock_path=self.lock_path)
        return report_leftover_temps(self.module, result, temps_of(self.dest), self.dest)

    def prepare(self):
        """Check the options and make the directories the move needs (none in check mode), before any lock."""
        self._check_options()
        self._ensure_parent_directories()

    def move_under_lock(self):
        """Move under the lock (none in check mode, which must not create a lock file)."""
        self.prepare()
        with optional_lock(not self.module.check_mode, self.lock_path, holder=HOLDER,
                           **(self.lock_options or lock_settings(self.module))) as lock:
            result = self._move_checked(lock)
        result['lock_wait'] = lock.waited if lock is not None else 0.0
        if lock is not None and lock.fencing_token is not None:
            result['fencing_token'] = lock.fencing_token
        result['lock_path'] = self.lock_path
        return result

    def move_holding_lock(self, lock):
        """The move itself; the caller holds ``lock`` (None in check mode) and has checked the options they share."""
        self._check_files()
        return self._move_checked(lock)

    def _move_checked(self, lock):
        self.lock = lock
        try:
            return self._move_once()
        except _SourceVanished:
            return self._source_gone()

    def _check_options(self):
        self._check_files()
        check_not_directory(self.src, 'src')
        check_not_directory(self.dest, 'dest')

    def _check_files(self):
        """Refuse this file's names before anything is touched; NotReady, so that a drain reports it and moves on."""
        try:
            check_planned_files(self._planned_files())
        except HandoffError as exc:
            raise NotReady('not moving %s: %s' % (self.src, exc.msg), src=self.src, **exc.details) from exc

    def _planned_files(self):
        """The files this move reads, writes (dest and its marker, through protocol temps) or locks."""
        file_lock = takes_lock_file(self.options.lock_type)
        return [PlannedFile('src', self.src, False), PlannedFile('dest', self.dest, True),
                PlannedFile('the oldest kept version of dest', kept_version_path(self.dest, self.options.keep_previous), True),
                PlannedFile('marker_path', self.marker_path, False),
                PlannedFile('dest_marker_path', self.dest_marker_path if self.options.marker == 'move' else None, True),
                PlannedFile('lock_path', self.lock_path if file_lock else None, False)]

    def _ensure_parent_directories(self):
        paths = [('dest', self.dest)]
        if takes_lock_file(self.options.lock_type):
            paths.append(('lock_path', self.lock_path))
        if self.options.marker == 'move':
            paths.append(('dest_marker_path', self.dest_marker_path))
        for option, path in paths:
            directory = os.path.dirname(path) or '.'
            if os.path.isdir(directory):
                continue
            if self.module.check_mode:
                continue  # the task that makes it made nothing in check mode either
            if not self.create_parents:
                raise HandoffError('%s %s: its directory %s does not exist; create it first or set '
                                   'create_parents=true' % (option, path, directory), path=path)
            make_parent_directories([path])

    def _result(self, changed, msg, **extra):
        result = dict(changed=changed, msg=msg, src=self.src, dest=self.dest, cross_device=False,
                      sha256=None, size=None, marker=None, backup_file=None, kept_previous=None)
        result.update(extra)
        return result

    def _judge_source(self, verify_here):
        """Under the lock: the marker verdict for src, or an error saying why it may not move."""
        if not self.options.require_marker:
            return None
        verify = verify_here and self.options.verify_checksum
        if self.entry is not None:
            seen = observe_entry(self.set_directory, self.entry, self.marker_path, verify)
        else:
            seen = observe(self.src, self.marker_path, verify, self.options.require_checksum)
        if seen.status == FAILED:
            raise ProducerFailed('not moving %s: %s' % (self.src, seen.reason), src=self.src,
                                 marker=seen.marker.to_dict())
        if seen.status == WAITING:
            if not os.path.lexists(self.src):
                raise _SourceVanished()
            raise NotMarkedYet('not moving %s: %s. Wait for it first with lockstep.handoff.wait_for_marker, '
                               'or set require_marker=false to move unmarked files' % (self.src, seen.reason),
                               seen.reason, src=self.src, marker_path=self.marker_path)
        return seen

    def _move_once(self):
        try:
            src_st = os.lstat(self.src)
        except FileNotFoundError:
            raise _SourceVanished()
        if stat.S_ISLNK(src_st.st_mode) or not stat.S_ISREG(src_st.st_mode):
            raise UnsafeFile('src %s is not a regular file (a symlink, device or directory); only regular '
                             'files are moved' % self.src, src=self.src)
        dest_directory = os.path.dirname(os.path.abspath(self.dest))
        cross_device = os.path.isdir(dest_directory) and src_st.st_dev != os.stat(dest_directory).st_dev
        copies = cross_device or _gives_away(self.options.owner, src_st)
        seen = self._judge_source(verify_here=not copies)
        if os.path.lexists(self.dest) and not self.options.force:
            return self._result(False, 'dest %s exists and force=false: %s left in place' % (self.dest, self.src))
        diff = {'before': {'path': self.src, 'state': 'file'}, 'after': {'path': self.dest, 'state': 'file'}}
        if self.module.check_mode:
            return self._result(True, 'would move %s to %s' % (self.src, self.dest), cross_device=cross_device,
                                diff=diff, marker=seen.marker.to_dict() if seen and seen.marker else None,
                                sha256=seen.sha256 if seen else None, size=seen.size if seen else src_st.st_size)
        backup_file = kept_previous = None
        with Directory.open(os.path.dirname(self.src)) as src_dir, Directory.open(dest_directory) as dest_dir:
            dest_name = os.path.basename(self.dest)
            replaces = dest_dir.lstat(dest_name) is not None
            if self.options.backup and replaces:
                backup_file = back_up(dest_dir, dest_name)
            if self.options.keep_previous and replaces:
                kept_previous = keep_previous(dest_dir, dest_name, self.options.keep_previous)
            forget_rollback(dest_dir, dest_name)
            fd = self._open_source(src_dir, seen)
            try:
                moved = None if copies else self._rename(src_dir, dest_dir, fd, seen)
                if moved is None:
                    cross_device = cross_device or not copies
                    moved = self._copy_across(src_dir, dest_dir, fd, seen)
            finally:
                os.close(fd)
        sha256, size, data_st = moved
        self._handle_marker(seen, data_st)
        return self._result(True, 'moved %s to %s' % (self.src, self.dest), cross_device=cross_device,
                            sha256=sha256, size=size, backup_file=backup_file, kept_previous=kept_previous, diff=diff,
                            marker=seen.marker.to_dict() if seen and seen.marker else None)

    def _open_source(self, src_dir, seen):
        """Open src (a regular file, never through a link); it must be the file judged, when one was."""
        try:
            fd = src_dir.open_regular(os.path.basename(self.src))
        except FileNotFoundError:
            raise _SourceVanished()
        if seen is not None and seen.st is not None and not same_inode(os.fstat(fd), seen.st):
            os.close(fd)
            raise NotReady('not moving %s: it was replaced by another file after its marker was checked; '
                           'another user of the directory changed it' % self.src, src=self.src)
        return fd

    def _rename(self, src_dir, dest_dir, fd, seen):
        """Rename src (open as ``fd``) onto dest; None when they are on different filesystems after all (EXDEV)."""
        if seen is not None and seen.sha256:
            sha256, size = seen.sha256, seen.size
        else:
            with explained('hashing', self.src):
                sha256, size = sha256_of_fd(fd)
        with explained('setting attributes of', self.src):
            apply_file_attributes(self.module, fd, self.src)
        stop_if_controller_gone('moving %s' % self.src)
        self.lock.confirm_before_publish(self.dest)
        src_st = os.fstat(fd)
        try:
            src_dir.rename_verified(os.path.basename(self.src), src_st, dest_dir, os.path.basename(self.dest))
        except FileNotFoundError:
            raise _SourceVanished()
        except UnsafeFile:
            raise
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return None
            raise explain(exc, 'renaming %s onto' % self.src, self.dest)
        with explained('flushing the directory of', self.dest):
            dest_dir.fsync()
            if not same_inode(os.fstat(src_dir.fd), os.fstat(dest_dir.fd)):
                src_dir.fsync()
        return sha256, size, src_st

    def _copy_across(self, src_dir, dest_dir, src_fd, seen):
        """Copy to a temp beside dest (hashing on the way), verify, rename, then drop the source.

        The copy gets src's permission bits only (0777: no setuid, setgid or
        sticky bit travels from a file someone else may own), through its fd.
        """
        expected = seen.sha256 if seen is not None and self.options.verify_checksum else None
        name = os.path.basename(self.dest)
        with explained('creating temp file in', dest_dir.path):
            fd, temp = dest_dir.create_temp(name)
        temp_st = os.fstat(fd)
        try:
            try:
                with explained('copying %s to' % self.src, dest_dir.join(temp)):
                    sha256, size = copy_with_sha256(src_fd, fd)
                    os.fsync(fd)
                if expected and sha256 != expected:
                    raise HandoffError('checksum mismatch copying %s: marker %s says sha256 %s, the data has %s; '
                                       'nothing was moved' % (self.src, self.marker_path, expected, sha256),
                                       src=self.src)
                with explained('setting attributes of', dest_dir.join(temp)):
                    os.fchmod(fd, stat.S_IMODE(os.fstat(src_fd).st_mode) & 0o777)
                    apply_file_attributes(self.module, fd, dest_dir.join(temp))
                    os.fsync(fd)
                data_st = os.fstat(fd)
            finally:
                os.close(fd)
            stop_if_controller_gone('moving %s' % self.src)
            self.lock.confirm_before_publish(self.dest)
            with explained('renaming the copy onto', self.dest):
                dest_dir.rename_verified(temp, data_st, dest_dir, name)
                dest_dir.fsync()
        finally:
            dest_dir.unlink_if_same(temp, temp_st)
        with explained('removing the moved source', self.src):
            if src_dir.unlink_if_same(os.path.basename(self.src), os.fstat(src_fd)):
                src_dir.fsync()
        return sha256, size, data_st

    def _handle_marker(self, seen=None, data_st=None):
        """Remove, move or keep the source's marker, after the data has moved.

        Moved, the marker must still say what was judged (or at least describe
        the moved data); it is renamed when both markers share a filesystem,
        else its exact bytes are written with the data's mode and owner.
        """
        action = self.options.marker
        if action == 'keep' or self.entry is not None or not os.path.lexists(self.marker_path):
            return
        if action == 'move':
            self._move_marker(seen, data_st)
            return
        with explained('removing marker', self.marker_path):
            remove_durably(self.marker_path)

    def _move_marker(self, seen, data_st):
        with explained('reading marker', self.marker_path):
            found = read_marker_bytes(self.marker_path)
        if found is None:
            return
        raw, marker_st = found
        marker = Marker.parse(raw, self.marker_path)
        if not _still_describes(marker, seen, data_st):
            raise HandoffError('marker %s changed after %s was judged and moved: it no longer describes the data now '
                               'at %s. It was left in place; look at who rewrote it' % (
                                   self.marker_path, self.src, self.dest), marker_path=self.marker_path)
        with Directory.open(os.path.dirname(self.marker_path)) as src_dir, \
                Directory.open(os.path.dirname(self.dest_marker_path)) as dest_dir:
            if marker_st.st_dev == os.fstat(dest_dir.fd).st_dev and _may_move_as_is(marker_st, data_st):
                with explained('moving marker %s to' % self.marker_path, self.dest_marker_path):
                    src_dir.rename_verified(os.path.basename(self.marker_path), marker_st, dest_dir,
                                            os.path.basename(self.dest_marker_path))
                    dest_dir.fsync()
                    src_dir.fsync()
                return
        mode, owner = marker_attributes(data_st) if data_st is not None else (0o644, None)
        with explained('writing marker', self.dest_marker_path):
            write_bytes_durably(self.dest_marker_path, raw, mode, owner)
        with explained('removing marker', self.marker_path):
            remove_durably(self.marker_path)

    def _source_gone(self):
        """src is absent: already moved (maybe by a crashed run whose marker step is left), or never there."""
        if not os.path.lexists(self.dest):
            msg = ('src %s does not exist, and dest %s does not either: nothing to move. Check the producer, or wait '
                   'for the file with lockstep.handoff.wait_for_marker' % (self.src, self.dest))
            if self.entry is not None:
                raise NotReady(msg, src=self.src, dest=self.dest)
            raise NotYet(msg, 'neither src %s nor dest %s exists' % (self.src, self.dest), src=self.src, dest=self.dest)
        with explained('hashing', self.dest):
            dest_st = os.lstat(self.dest)
            sha256, size = sha256_of_path(self.dest, expected=dest_st)
        leftover = self._leftover_marker(sha256, size) if self.options.marker != 'keep' and self.entry is None else None
        if leftover is not None:
            if not self.module.check_mode:
                self._handle_marker(Observation(READY, '', leftover, sha256, size, dest_st), dest_st)
            return self._result(True, 'completed an interrupted move: %s was already at %s, its marker is now '
                                'handled' % (self.src, self.dest), sha256=sha256, size=size)
        return self._result(False, 'already moved: %s is absent and %s is in place' % (self.src, self.dest),
                            sha256=sha256, size=size)

    def _leftover_marker(self, sha256, size):
        """The marker src left behind when it describes the data at dest, else None."""
        try:
            marker = Marker.read(self.marker_path)
        except MarkerError:
            return None
        return marker if marker is not None and marker.describes(sha256, size) else None
