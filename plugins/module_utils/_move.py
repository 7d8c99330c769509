# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target side of ``locked_move``: exactly once, under a lock, never a partial dest.

Order under the lock: re-judge the marker and checksum, move the data (rename,
or across filesystems copy to a temp beside dest, fsync, rename, then unlink
the source), then deal with the marker. A crash between two steps leaves
either the source or a complete dest, and a re-run finishes the rest.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._attributes import apply_file_attributes
from ansible_collections.lockstep.handoff.plugins.module_utils._durable import (
    create_temp_beside, fsync_directory, publish_durably, remove_durably, remove_quietly, temps_of,
    write_bytes_durably)
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._hashing import copy_with_sha256, sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._locking import default_lock_path, lock_settings, optional_lock
from ansible_collections.lockstep.handoff.plugins.module_utils._marker import Marker, MarkerError, default_marker_path
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import FAILED, WAITING, observe, observe_entry
from ansible_collections.lockstep.handoff.plugins.module_utils._oserror import explain, explained
from ansible_collections.lockstep.handoff.plugins.module_utils._checks import PlannedFile, check_not_directory, check_numbers, check_planned_files


HOLDER = 'lockstep.handoff.locked_move'


class _SourceVanished(Exception):
    """Another consumer moved the source between our look and our rename."""


class NotReady(HandoffError):
    """The source's marker is missing, malformed or does not describe it (yet)."""


class ProducerFailed(HandoffError):
    """The source's marker says the producer failed."""


def report_leftover_temps(module, result, temps, where):
    """Name in ``result`` and a warning the temps a killed cross-device copy left (never removed here: an
    ``atomic_upload`` to the same path may be writing one right now, outside the lock)."""
    if temps:
        result['leftover_temps'] = temps
        module.warn('%d temp file(s) of %s are present: partial copies of a move that was killed, or an '
                    'upload to that path in progress; once no upload is running, remove them (%s)'
                    % (len(temps), where, ', '.join(temps)))
    return result


class Move:
    """Moving one file, exactly once.

    With ``entry`` (a FileEntry of the manifest at ``marker_path`` that
    describes the directory ``set_directory``) the file is one of a set: it is
    judged against its entry, and the manifest is left to the caller, who
    handles it once the whole set has moved. A drain passes the ``lock_options``
    (``lock_settings``) its moves share, so each lock directory is judged once.
    """

    def __init__(self, module, src, dest, marker_path=None, dest_marker_path=None, lock_path=None, entry=None,
                 set_directory=None, lock_options=None):
        self.module = module
        self.params = module.params
        self.src = src
        self.dest = dest
        self.marker_path = marker_path or default_marker_path(src)
        self.dest_marker_path = dest_marker_path or default_marker_path(dest)
        self.lock_path = lock_path or default_lock_path(dest)
        self.entry = entry
        self.set_directory = set_directory
        # The directories of a set's files are part of the set: made as needed.
        self.create_parents = self.params['create_parents'] or entry is not None
        self.lock = None
        self.lock_options = lock_options

    def run(self):
        """Move under the lock, then name the temps a killed copy left beside dest."""
        result = self.move_under_lock()
        return report_leftover_temps(self.module, result, temps_of(self.dest), self.dest)

    def move_under_lock(self):
        """Move under the lock (none in check mode, which must not create a lock file)."""
        self._check_options()
        self._ensure_parent_directories()
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
        params = self.params
        check_numbers(params)
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
        file_lock = self.params['lock_type'] != 'redis'  # a Redis lease's lock_path is a name, not a file
        return [PlannedFile('src', self.src, False), PlannedFile('dest', self.dest, True),
                PlannedFile('marker_path', self.marker_path, False),
                PlannedFile('dest_marker_path', self.dest_marker_path if self.params['marker'] == 'move' else None, True),
                PlannedFile('lock_path', self.lock_path if file_lock else None, False)]

    def _ensure_parent_directories(self):
        paths = [('dest', self.dest)]
        if self.params['lock_type'] != 'redis':  # a Redis lease's lock_path is a name, not a file
            paths.append(('lock_path', self.lock_path))
        if self.params['marker'] == 'move':
            paths.append(('dest_marker_path', self.dest_marker_path))
        for option, path in paths:
            directory = os.path.dirname(path) or '.'
            if os.path.isdir(directory):
                continue
            if not self.create_parents:
                raise HandoffError('%s %s: its directory %s does not exist; create it first or set '
                                   'create_parents=true' % (option, path, directory), path=path)
            if not self.module.check_mode:
                with explained('creating directory', directory):
                    os.makedirs(directory)

    def _result(self, changed, msg, **extra):
        result = dict(changed=changed, msg=msg, src=self.src, dest=self.dest, cross_device=False,
                      sha256=None, size=None, marker=None, backup_file=None)
        result.update(extra)
        return result

    def _judge_source(self, verify_here):
        """Under the lock: the marker verdict for src, or an error saying why it may not move."""
        if not self.params['require_marker']:
            return None
        verify = verify_here and self.params['verify_checksum']
        if self.entry is not None:
            seen = observe_entry(self.set_directory, self.entry, self.marker_path, verify)
        else:
            seen = observe(self.src, self.marker_path, verify, self.params['require_checksum'])
        if seen.status == FAILED:
            raise ProducerFailed('not moving %s: %s' % (self.src, seen.reason), src=self.src,
                                 marker=seen.marker.to_dict())
        if seen.status == WAITING:
            if not os.path.lexists(self.src):
                raise _SourceVanished()
            raise NotReady('not moving %s: %s. Wait for it first with lockstep.handoff.wait_for_marker, '
                           'or set require_marker=false to move unmarked files'
                           % (self.src, seen.reason), src=self.src, marker_path=self.marker_path)
        return seen

    def _move_once(self):
        try:
            src_st = os.lstat(self.src)
        except FileNotFoundError:
            raise _SourceVanished()
        if stat.S_ISLNK(src_st.st_mode) or not stat.S_ISREG(src_st.st_mode):
            raise HandoffError('src %s is not a regular file (a symlink, device or directory); only regular '
                               'files are moved' % self.src, src=self.src)
        dest_directory = os.path.dirname(os.path.abspath(self.dest))
        cross_device = os.path.isdir(dest_directory) and src_st.st_dev != os.stat(dest_directory).st_dev
        seen = self._judge_source(verify_here=not cross_device)
        if os.path.lexists(self.dest) and not self.params['force']:
            return self._result(False, 'dest %s exists and force=false: %s left in place' % (self.dest, self.src))
        diff = {'before': {'path': self.src, 'state': 'file'}, 'after': {'path': self.dest, 'state': 'file'}}
        if self.module.check_mode:
            return self._result(True, 'would move %s to %s' % (self.src, self.dest), cross_device=cross_device,
                                diff=diff, marker=seen.marker.to_dict() if seen and seen.marker else None)
        backup_file = None
        if self.params['backup'] and os.path.lexists(self.dest):
            backup_file = self.module.backup_local(self.dest)
        moved = None if cross_device else self._rename(seen)
        if moved is None:
            cross_device = True
            moved = self._copy_across(src_st, seen)
        sha256, size = moved
        self._handle_marker()
        return self._result(True, 'moved %s to %s' % (self.src, self.dest), cross_device=cross_device,
                            sha256=sha256, size=size, backup_file=backup_file, diff=diff,
                            marker=seen.marker.to_dict() if seen and seen.marker else None)

    def _rename(self, seen):
        """Rename src onto dest; None when they are on different filesystems after all (EXDEV)."""
        if seen is not None and seen.sha256:
            sha256, size = seen.sha256, seen.size
        else:
            with explained('hashing', self.src):
                sha256, size = sha256_of_path(self.src)
        with explained('setting attributes of', self.src):
            apply_file_attributes(self.module, self.src)
        self.lock.confirm_before_publish(self.dest)
        try:
            os.rename(self.src, self.dest)
        except FileNotFoundError:
            raise _SourceVanished()
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return None
            raise explain(exc, 'renaming %s onto' % self.src, self.dest)
        with explained('flushing the directory of', self.dest):
            fsync_directory(os.path.dirname(self.dest))
            if os.path.dirname(os.path.abspath(self.src)) != os.path.dirname(os.path.abspath(self.dest)):
                fsync_directory(os.path.dirname(self.src))
        return sha256, size

    def _copy_across(self, src_st, seen):
        """Copy to a temp beside dest (hashing on the way), verify, rename, then drop the source."""
        expected = seen.sha256 if seen is not None and self.params['verify_checksum'] else None
        directory = os.path.dirname(self.dest) or '.'
        with explained('creating temp file in', directory):
            fd, temp = create_temp_beside(self.dest)
        try:
            try:
                try:
                    src_fd = os.open(self.src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except FileNotFoundError:
                    raise _SourceVanished()
                with explained('copying %s to' % self.src, temp):
                    try:
                        sha256, size = copy_with_sha256(src_fd, fd)
                    finally:
                        os.close(src_fd)
                    os.fsync(fd)
            finally:
                os.close(fd)
            if expected and sha256 != expected:
                raise HandoffError('checksum mismatch copying %s: marker %s says sha256 %s, the data has %s; '
                                   'nothing was moved' % (self.src, self.marker_path, expected, sha256),
                                   src=self.src)
            with explained('setting attributes of', temp):
                os.chmod(temp, stat.S_IMODE(src_st.st_mode))
                apply_file_attributes(self.module, temp)
            self.lock.confirm_before_publish(self.dest)
            with explained('renaming the copy onto', self.dest):
                publish_durably(temp, self.dest)
            temp = None
        finally:
            if temp is not None:
                remove_quietly(temp)
        with explained('removing the moved source', self.src):
            remove_durably(self.src)
        return sha256, size

    def _handle_marker(self):
        """Remove, move or keep the source's marker, after the data has moved."""
        action = self.params['marker']
        if action == 'keep' or self.entry is not None or not os.path.lexists(self.marker_path):
            return
        if action == 'move':
            with explained('reading marker', self.marker_path):
                with open(self.marker_path, 'rb') as handle:
                    raw = handle.read()
            with explained('writing marker', self.dest_marker_path):
                write_bytes_durably(self.dest_marker_path, raw)
        with explained('removing marker', self.marker_path):
            remove_durably(self.marker_path)

    def _source_gone(self):
        """src is absent: already moved (maybe by a crashed run whose marker step is left), or never there."""
        if not os.path.lexists(self.dest):
            error = NotReady if self.entry is not None else HandoffError
            raise error('src %s does not exist, and dest %s does not either: nothing to move. Check '
                        'the producer, or wait for the file with lockstep.handoff.wait_for_marker'
                        % (self.src, self.dest), src=self.src, dest=self.dest)
        with explained('hashing', self.dest):
            sha256, size = sha256_of_path(self.dest)
        if self.params['marker'] != 'keep' and self.entry is None and self._leftover_marker_describes(sha256, size):
            if not self.module.check_mode:
                self._handle_marker()
            return self._result(True, 'completed an interrupted move: %s was already at %s, its marker is now '
                                'handled' % (self.src, self.dest), sha256=sha256, size=size)
        return self._result(False, 'already moved: %s is absent and %s is in place' % (self.src, self.dest),
                            sha256=sha256, size=size)

    def _leftover_marker_describes(self, sha256, size):
        try:
            marker = Marker.read(self.marker_path)
        except MarkerError:
            return False
        return marker is not None and marker.describes(sha256, size)
