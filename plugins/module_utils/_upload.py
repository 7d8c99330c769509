# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target side of ``atomic_upload``, in three phases the action plugin drives.

``probe`` decides whether anything must be sent (nothing is when the data and
its marker already match) and, when the connection user may write there,
creates the temp file that the transfer fills directly. ``publish`` verifies
the bytes, sets attributes, validates, then renames and writes the marker.
``abort`` removes the temp file after a failed transfer and reports why the
disk refused it.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile, open_regular
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import (
    create_temp_beside, is_temp_of, remove_durably, remove_quietly, temps_of)
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError, sentences
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import (
    copy_with_sha256, sha256_of_fd, sha256_of_path)
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LeaseLost
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import (
    lock_settings, optional_lock, takes_lock_file)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    STATE_COMPLETE, Marker, MarkerError)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import default_lock_path, default_marker_path
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained, filesystem_space
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import (
    apply_file_attributes, marker_attributes, mode_of, trusted_owner)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.diff import read_for_diff
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import back_up
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import (
    PlannedFile, check_not_directory, check_numbers, check_parent_directory, check_planned_files)
from ansible_collections.lockstep.handoff.plugins.module_utils._state_mirror import publish_mirror
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone, stop_if_controller_gone
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.trusted_path import others_can_replace


class Upload:
    """One ``atomic_upload`` task on one host."""

    def __init__(self, module):
        params = module.params
        self.module = module
        self.params = params
        self.dest = self._dest(params['dest'])
        self.directory = os.path.dirname(self.dest) or '.'
        self.marker_path = ((params['marker_path'] or default_marker_path(self.dest, params['state_dir']))
                            if params['marker'] else None)
        self.lock_path = params['lock_path'] or default_lock_path(self.dest, params['state_dir'])
        self.sha256 = params['_sha256']
        self.size = params['_size']
        # The path whose protocol temp files carry the transferred bytes.
        self.staging_for = self.dest

    @staticmethod
    def _dest(dest):
        """The data path its marker and lock are named after."""
        return dest

    def run(self):
        """Run the phase the action plugin asked for; return the result dict. With a state mirror, mirror it."""
        self._check_options()
        mirror = publish_mirror(self.params, self.params['_host'], self.marker_path, self.module.check_mode)
        if mirror is None:
            return self._run_phase()
        try:
            result = self._run_phase()
        except HandoffError as exc:
            note = mirror.after_failure(exc)
            if note:
                raise HandoffError(sentences(exc.msg, note), **exc.details) from exc
            raise
        if result.get('action') != 'need_checksum':
            mirror.after_phase(self.params['_phase'], result)
        return result

    def _run_phase(self):
        phase = self.params['_phase']
        if phase == 'abort':
            return self._abort()
        if phase == 'probe':
            removed = self._clean_leftover_temps()
            with self._lock(self.params['lock'] and not self.module.check_mode) as lock:
                result = self._with_lock_wait(self._probe(), lock)
            result['removed_temps'] = removed
            return result
        return self._publish()

    def _clean_leftover_temps(self):
        """Remove temps older than ``remove_temps_older_than``; warn about the others; return the removed.

        A live upload keeps writing its temp, so its mtime stays fresh: an age
        well above the longest transfer never takes a temp that is in use.
        """
        threshold = self.params['remove_temps_older_than']
        removed, kept = [], []
        now = time.time()
        for temp in self._leftover_temps():
            try:
                age = now - os.lstat(temp).st_mtime
            except FileNotFoundError:
                continue
            if threshold is not None and age >= threshold:
                if not self.module.check_mode:
                    remove_quietly(temp)
                removed.append(temp)
            else:
                kept.append(temp)
        if kept:
            self.module.warn('%d temp file(s) of %s are present, left by interrupted uploads or belonging to one '
                             'running now: %s. They are never renamed onto dest; remove them once no upload of '
                             'this file runs, or set remove_temps_older_than' % (len(kept), self.dest, ', '.join(kept)))
        return removed

    def _leftover_temps(self):
        return temps_of(self.dest)

    def _check_options(self):
        check_numbers(self.params)
        if self.params['_phase'] == 'publish' and self.sha256 is None:
            raise HandoffError('_sha256 is required to publish; this option is set by the action plugin only')
        if self.marker_path and os.path.abspath(self.marker_path) == os.path.abspath(self.dest):
            raise HandoffError('marker_path %s is the same path as dest; the marker must be '
                               'a file of its own' % self.marker_path)
        check_planned_files(self._planned_files())
        self._check_directories(('dest', self.dest), ('marker_path', self.marker_path))
        check_not_directory(self.dest, 'dest')

    def _check_directories(self, *paths):
        """Check the directories of ``paths`` (``(option, path)``); in check mode note the missing ones."""
        self.missing_directories = sorted({
            os.path.dirname(path) or '.' for option, path in paths
            if path and not check_parent_directory(path, option, self.module.check_mode)})

    def _would_create_note(self, result):
        """In check mode with directories not made yet: say so in ``result``, which a real run would write there."""
        if self.missing_directories:
            result['msg'] = ('check mode: %s does not exist yet (an earlier task that makes it changed nothing in '
                             'check mode); a real run needs it and would publish %s there'
                             % (' and '.join(self.missing_directories), self.dest))
        return result

    def _planned_files(self):
        """The files this task creates or replaces on the host (the lock only when it takes a file lock)."""
        file_lock = self.params['lock'] and takes_lock_file(self.params['lock_type'])
        return [PlannedFile('dest', self.dest, True), PlannedFile('marker_path', self.marker_path, True),
                PlannedFile('lock_path', self.lock_path if file_lock else None, False)]

    def _lock(self, wanted):
        return optional_lock(wanted, self.lock_path, holder='lockstep.handoff.atomic_upload',
                             **lock_settings(self.module))

    def _with_lock_wait(self, result, lock):
        if lock is not None:
            result['lock_wait'] = lock.waited
        return result

    def _base_result(self, changed, action):
        return dict(changed=changed, action=action, dest=self.dest, sha256=self.sha256, size=self.size,
                    marker_path=self.marker_path, backup_file=None)

    def _dest_holds_data(self, marker):
        """``(whether dest holds exactly the data, whether dest exists)``.

        dest is read only when it may hold the data: a regular file of the
        wanted size, whose complete marker (if any) does not name other bytes.
        A marker naming another sha256 for a dest of its size describes dest
        (producers publish the marker last), so the new data differs without
        reading dest: a changed upload costs no extra full read.
        """
        try:
            st = os.lstat(self.dest)
        except FileNotFoundError:
            return False, False
        if not stat.S_ISREG(st.st_mode) or st.st_size != self.size or not trusted_owner(st, self.params):
            return False, True
        if (marker is not None and marker.state == STATE_COMPLETE and marker.sha256 and marker.size == st.st_size
                and marker.sha256 != self.sha256):
            return False, True
        with explained('reading current', self.dest):
            return sha256_of_path(self.dest, expected=st)[0] == self.sha256, True

    def _dest_may_hold_data(self):
        """Whether dest is a regular file of the source's size, which only the checksum can tell apart."""
        try:
            st = os.lstat(self.dest)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == self.size and bool(self.params['force'])

    def _current_marker(self):
        if not self.marker_path:
            return None
        try:
            return Marker.read(self.marker_path)
        except MarkerError:
            return None

    def _probe(self):
        if self.sha256 is None and self._dest_may_hold_data():
            # The controller is still hashing a large source; only a dest of its size needs the answer.
            return dict(changed=False, action='need_checksum', dest=self.dest)
        marker = self._current_marker()
        same_data, dest_exists = self._dest_holds_data(marker)
        if dest_exists and not self.params['force']:
            result = self._base_result(False, 'none')
            result['msg'] = 'dest %s exists and force=false: left as it is' % self.dest
            return result
        if same_data:
            return self._probe_same_data(marker)
        if not self.missing_directories:
            self._check_free_space(self.size)
        result = self._would_create_note(self._base_result(True, 'transfer'))
        if self.module._diff:
            result['diff_before'] = read_for_diff(self.dest, self.params['_max_diff_size'])
        if not self.module.check_mode:
            self._offer_direct_transfer(result, self.dest, self.directory)
        return result

    def _offer_direct_transfer(self, result, staging_for, directory):
        """Create the temp the controller fills by name, where no other user can replace that name.

        The controller's transfer (sftp, scp, a local copy) writes a path and
        follows a symlink swapped in there; so it writes straight into dest's
        directory only when nobody but this user and root can write on the way.
        Otherwise it stages in the connection user's private tmp, and publish
        copies from there into a temp this process holds open.
        """
        result['transfer_path'] = 'staged'
        if not self.params['_direct']:
            return
        reason = others_can_replace(directory)
        if reason:
            result['direct_transfer_refused'] = reason
            return
        with explained('creating temp file in', directory):
            result['staging_path'] = create_temp_beside(staging_for)
        result['transfer_path'] = 'direct'

    def _probe_same_data(self, marker):
        """The bytes are already there: fix attributes and the marker, transfer nothing."""
        with Directory.open(self.directory) as directory:
            fd = directory.open_regular(os.path.basename(self.dest))
            try:
                changed = apply_file_attributes(self.module, fd, self.dest)
                data_st = os.fstat(fd)
            finally:
                os.close(fd)
        action = 'attributes' if changed else 'none'
        if self.marker_path and not (marker is not None and marker.describes(self.sha256, self.size)):
            if not self.module.check_mode:
                self._write_marker(marker, data_st)
            changed, action = True, 'marker'
        return self._base_result(changed, action)

    def _check_free_space(self, needed):
        with explained('checking free space in', self.directory):
            space = filesystem_space(self.directory)
        if space['read_only']:
            raise HandoffError('the filesystem holding %s is mounted read-only; remount it read-write or '
                               'choose another dest' % self.directory, dest=self.dest, **space)
        if space['free_bytes'] < needed:
            msg = ('the disk is full: the filesystem holding %s has %d bytes free and %s needs %d; free space '
                   'and re-run (dest was not touched)' % (self.directory, space['free_bytes'], self.dest, needed))
            raise HandoffError(sentences(msg, self._mark_failed(msg)), dest=self.dest, **space)

    def _mark_failed(self, reason):
        """Leave a ``failed`` marker so consumers stop waiting; return a sentence saying what was done.

        By default (``unless_complete``) a complete marker stays: the previous
        version it describes is still in place and still good to take.
        """
        policy = self.params['failure_marker']
        if not self.marker_path or policy == 'never' or self.module.check_mode:
            return ''
        current = self._current_marker()
        if policy == 'unless_complete' and current is not None and current.state == STATE_COMPLETE:
            return 'The complete marker of the version in place was kept (failure_marker=unless_complete).'
        generation = ((current.generation if current is not None else None) or 0) + 1
        marker = Marker.failed(reason, self._producer(), generation)
        try:
            marker.write(self.marker_path, self._failed_marker_mode())
        except OSError as exc:
            return 'Writing a failed marker to %s failed too: %s.' % (self.marker_path, exc.strerror)
        return 'A failed marker was written to %s, so waiting consumers fail at once.' % self.marker_path

    def _failed_marker_mode(self):
        """0644, narrowed by the task's ``mode`` when it gives one: a marker is never wider than its data."""
        if self.params.get('mode') is None:
            return 0o644
        return 0o644 & mode_of(self.params['mode'], os.stat_result((stat.S_IFREG | 0o644,) + (0,) * 9))

    def _producer(self):
        return '%s on %s' % (self.params['_producer'] or 'lockstep.handoff.atomic_upload', socket.gethostname())

    def _publish(self):
        try:
            return self._publish_or_fail()
        except (LeaseLost, ControllerGone):
            # A stale holder writes nothing, not even a failed marker: a newer holder owns dest now. A cancelled
            # job neither: nothing failed, and the next run publishes.
            raise
        except HandoffError as exc:
            raise HandoffError(sentences(exc.msg, self._mark_failed(exc.msg)), **exc.details) from exc

    def _publish_or_fail(self):
        with Directory.open(self.directory) as directory:
            fd, temp, received = self._stage_beside_dest(directory)
            temp_st = os.fstat(fd)
            try:
                try:
                    return self._publish_temp(directory, fd, temp, received)
                finally:
                    os.close(fd)
            finally:
                directory.unlink_if_same(temp, temp_st)

    def _publish_temp(self, directory, fd, temp, received):
        """Check ``received`` (sha256, size), give attributes to, validate and rename the temp ``fd`` onto dest."""
        temp_path = directory.join(temp)
        actual_sha256, actual_size = received
        if (actual_sha256, actual_size) != (self.sha256, self.size):
            raise HandoffError('checksum mismatch after transfer to %s: expected sha256 %s (%d bytes), '
                               'received %s (%d bytes); dest was not touched, re-run the task'
                               % (temp_path, self.sha256, self.size, actual_sha256, actual_size), dest=self.dest)
        name = os.path.basename(self.dest)
        with explained('setting attributes of', temp_path):
            apply_file_attributes(self.module, fd, temp_path, like=directory.lstat(name), inherit=True)
            os.fsync(fd)
        self._validate(temp_path, fd)
        with self._lock(self.params['lock']) as lock:
            result = self._base_result(True, 'transfer')
            result['transfer_path'] = 'direct' if self.params['_direct'] else 'staged'
            if self.params['backup'] and directory.lstat(name) is not None:
                result['backup_file'] = back_up(directory, name)
            previous = self._current_marker()
            fencing_token = self._confirm_lease(lock, result)
            if self.marker_path:
                with explained('removing the previous marker', self.marker_path):
                    remove_durably(self.marker_path)
            data_st = os.fstat(fd)
            with explained('renaming the temp file onto', self.dest):
                directory.rename_verified(temp, data_st, directory, name)
                directory.fsync()
            if self.marker_path:
                result['generation'] = self._write_marker(previous, data_st, fencing_token)
            return self._with_lock_wait(result, lock)

    def _confirm_lease(self, lock, result):
        """Right before replacing dest: stop if the job was cancelled, refuse a lost lock; return its fencing token
        (also put in ``result``), if any."""
        stop_if_controller_gone('replacing %s' % self.dest)
        if lock is None:
            return None
        lock.confirm_before_publish(self.dest)
        if lock.fencing_token is not None:
            result['fencing_token'] = lock.fencing_token
        return lock.fencing_token

    def _stage_beside_dest(self, directory):
        """Return ``(fd, name, (sha256, size))`` of the fsynced temp beside dest holding the transferred bytes.

        A direct transfer's temp was filled by name, so it must still be the
        probe's: a regular file of this user with no other link. A staged
        upload is copied into a fresh temp this process creates.
        """
        staged = self.params['_staged_path']
        if self.params['_direct']:
            if not is_temp_of(self.staging_for, staged):
                raise HandoffError('_staged_path %s is not a temp file of %s; this option is set by the '
                                   'action plugin only' % (staged, self.dest))
            with explained('opening the transferred temp file', staged):
                fd = directory.open_regular(os.path.basename(staged), os.O_RDWR)
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_nlink != 1:
                os.close(fd)
                raise UnsafeFile('the transferred temp file %s is not the one the probe created (owner uid %d, %d '
                                 'links); another user changed it. Nothing was published'
                                 % (staged, st.st_uid, st.st_nlink), path=staged)
            try:
                with explained('hashing the transferred temp file', staged):
                    received = sha256_of_fd(fd)
                    os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            return fd, os.path.basename(staged), received
        with explained('creating temp file in', self.directory):
            fd, temp = directory.create_temp(os.path.basename(self.dest))
        try:
            with explained('copying the staged upload into', directory.join(temp)):
                src_fd = open_regular(staged)
                try:
                    received = copy_with_sha256(src_fd, fd)
                finally:
                    os.close(src_fd)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp, dir_fd=directory.fd)
            raise
        return fd, temp, received

    def _validate(self, temp, fd):
        """Run ``validate`` on the temp ``fd`` (named ``temp``).

        Where another user can replace that name, the command gets
        ``/proc/PID/fd/N`` instead, which always reaches the file this process
        holds: it must not be made to read a file of someone else's choosing.
        """
        command = self.params['validate']
        if not command:
            return
        if '%s' not in command:
            raise HandoffError('validate must contain %%s (the path of the file to check); got %r' % command)
        if others_can_replace(os.path.dirname(temp) or '.'):
            temp = '/proc/%d/fd/%d' % (os.getpid(), fd)
        try:
            argv = shlex.split(command % temp)
        except ValueError as exc:
            raise HandoffError('validate %r cannot be split into arguments (%s); fix its quoting. dest %s was not '
                               'touched' % (command, exc, self.dest))
        try:
            rc, out, err = self.module.run_command(argv, handle_exceptions=False)
        except OSError as exc:
            raise HandoffError('validate command %r could not run: %s: %s. Install it on the host, or give its full '
                               'path (executable by the user the module runs as) in validate. dest %s was not touched'
                               % (command % temp, argv[0], exc.strerror, self.dest))
        if rc != 0:
            raise HandoffError('validate command %r failed (rc=%d)%s; dest %s was not touched'
                               % (command % temp, rc, _last_line(err or out), self.dest), rc=rc, stdout=out, stderr=err)

    def _write_marker(self, previous, data_st, fencing_token=None):
        """Write a fresh complete marker, with the data's (``data_st``) mode and owner; return its generation."""
        generation = ((previous.generation if previous is not None else None) or 0) + 1
        marker = Marker.complete(self.sha256, self.size, self._producer(), generation, fencing_token)
        with explained('writing marker', self.marker_path):
            marker.write(self.marker_path, *marker_attributes(data_st))
        return generation

    def _abort(self):
        """After a failed transfer: remove the temp, report the filesystem's state, mark the failure."""
        staged = self.params['_staged_path']
        removed = bool(staged) and is_temp_of(self.staging_for, staged) and os.path.lexists(staged)
        if removed:
            remove_quietly(staged)
        result = dict(changed=False, temp_removed=removed)
        try:
            result.update(filesystem_space(self.directory))
        except OSError:
            pass
        result['reason'] = self._transfer_failure_reason(result)
        reason = 'transfer to %s failed: %s' % (self.directory, result['reason'])
        result['failure_marker_note'] = self._mark_failed(reason)
        return result

    def _transfer_failure_reason(self, space):
        """Why the connection could not write the bytes, in the target's own terms where it can tell."""
        if space.get('read_only'):
            return 'the filesystem holding %s is mounted read-only' % self.directory
        if 'free_bytes' in space and space['free_bytes'] < self.size:
            return ('the disk is full: the filesystem holding %s has %d bytes free, %d needed'
                    % (self.directory, space['free_bytes'], self.size))
        return self.params['_reason'] or 'the connection reported no reason'


def _last_line(output):
    """``: LINE`` with the last non-empty line a command printed, to say in one line why it failed; else ''."""
    lines = [line.strip() for line in (output or '').splitlines() if line.strip()]
    return ': %s' % lines[-1] if lines else ''
