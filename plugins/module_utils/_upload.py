# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``atomic_upload`` for one file, in three phases the action plugin drives.

``probe`` decides whether anything must be sent (nothing is when the data and
its marker already match) and, when the connection user may write there,
creates the temp file that the transfer fills directly. ``publish`` verifies
the bytes, sets attributes, validates, then renames and writes the marker.
``abort`` removes the temp file after a failed transfer and reports why the
disk refused it. What a set shares with one file is in ``_publish_core``. A file
of a list (``_upload_files``) publishes from its member of the list's archive.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import (
    apply_file_attributes, marker_attributes, trusted_owner)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import back_up
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.diff import read_for_diff
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import (
    Directory, UnsafeFile, open_regular, same_inode)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import is_temp_of, remove_durably, temps_of
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import (
    copy_reader_with_sha256, copy_with_sha256, sha256_of_fd, sha256_of_path)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import check_not_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_COMPLETE, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._publish_core import PublishCore
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ACTION, ACTION_NEED_CHECKSUM, ACTION_TRANSFER, DIFF_BEFORE)


class Upload:
    """One ``atomic_upload`` task on one host."""

    def __init__(self, module, request, reader=None):
        params = module.params
        self.module = module
        self.params = params
        self.request = request
        self.dest = params['dest']
        self.directory = os.path.dirname(self.dest) or '.'
        self.core = PublishCore(
            module, request, self.dest, self.directory, staging_for=self.dest, sha256=request.sha256, size=request.size)
        self.marker_path = self.core.marker_path
        self.sha256 = request.sha256
        self.size = request.size
        # A file object of the bytes to publish (a member of a list's archive), instead of staged_path.
        self.reader = reader

    def run(self):
        """Run the phase the request asks for; return the result dict."""
        return self.core.run(self)

    def check_options(self):
        if self.marker_path and os.path.abspath(self.marker_path) == os.path.abspath(self.dest):
            raise HandoffError('marker_path %s is the same path as dest; the marker must be '
                               'a file of its own' % self.marker_path)
        self.core.check_planned_files(dest_has_temps=True)
        self.core.check_directories(('dest', self.dest), ('marker_path', self.marker_path))
        check_not_directory(self.dest, 'dest')

    def leftover_temps(self):
        return temps_of(self.dest)

    def _dest_holds_data(self, marker):
        """``(the stat of dest when it holds exactly the data, else None; whether dest exists)``.

        dest is read only when it may hold the data: a regular file of the
        wanted size, whose complete marker (if any) does not name other bytes.
        A marker naming another sha256 for a dest of its size describes dest
        (producers publish the marker last), so the new data differs without
        reading dest: a changed upload costs no extra full read.
        """
        try:
            st = os.lstat(self.dest)
        except FileNotFoundError:
            return None, False
        if not stat.S_ISREG(st.st_mode) or st.st_size != self.size or not trusted_owner(st, self.params):
            return None, True
        if (marker is not None and marker.state == STATE_COMPLETE and marker.sha256 and marker.size == st.st_size
                and marker.sha256 != self.sha256):
            return None, True
        with explained('reading current', self.dest):
            return (st if sha256_of_path(self.dest, expected=st)[0] == self.sha256 else None), True

    def _dest_may_hold_data(self):
        """Whether dest is a regular file of the source's size, which only the checksum can tell apart."""
        try:
            st = os.lstat(self.dest)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == self.size and bool(self.params['force'])

    def probe(self):
        if self.sha256 is None and self._dest_may_hold_data():
            # The controller is still hashing a large source; only a dest of its size needs the answer.
            return {'changed': False, ACTION: ACTION_NEED_CHECKSUM, 'dest': self.dest}
        marker = self.core.current_marker()
        same_data_st, dest_exists = self._dest_holds_data(marker)
        if dest_exists and not self.params['force']:
            result = self.core.base_result(False, 'none')
            result['msg'] = 'dest %s exists and force=false: left as it is' % self.dest
            return result
        if same_data_st is not None:
            return self._probe_same_data(marker, same_data_st)
        result = self.core.plan_transfer(self.core.base_result(True, ACTION_TRANSFER), self.size)
        if self.module._diff:
            result[DIFF_BEFORE] = read_for_diff(self.dest, self.request.max_diff_size)
        if not self.module.check_mode:
            self.core.offer_direct_transfer(result, self.directory)
        return result

    def _probe_same_data(self, marker, judged_st):
        """The bytes are already there (in the file ``judged_st``): fix attributes and the marker, transfer nothing.

        Only on that very file: another user who swapped in their own copy of
        the bytes since would get their inode chowned, chmodded and marked.
        """
        with Directory.open(self.directory) as directory:
            fd = directory.open_regular(os.path.basename(self.dest))
            try:
                if not same_inode(os.fstat(fd), judged_st):
                    raise UnsafeFile('%s was replaced by another file after it was found to hold the data; another '
                                     'user of the directory changed it. Nothing was changed; re-run the task'
                                     % self.dest, path=self.dest)
                changed = apply_file_attributes(self.module, fd, self.dest)
                data_st = os.fstat(fd)
            finally:
                os.close(fd)
        action = 'attributes' if changed else 'none'
        if self.marker_path and not (marker is not None and marker.describes(self.sha256, self.size)):
            if not self.module.check_mode:
                self._write_marker(marker, data_st)
            changed, action = True, 'marker'
        return self.core.base_result(changed, action)

    def publish(self):
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
        self.core.validate(temp_path, fd)
        with self.core.lock(self.params['lock']) as lock:
            result = self.core.base_result(True, ACTION_TRANSFER)
            result['transfer_path'] = self.core.transfer_path()
            if self.params['backup'] and directory.lstat(name) is not None:
                result['backup_file'] = back_up(directory, name)
            previous = self.core.current_marker()
            fencing_token = self.core.confirm_lease(lock, result)
            if self.marker_path:
                with explained('removing the previous marker', self.marker_path):
                    remove_durably(self.marker_path)
            data_st = os.fstat(fd)
            with explained('renaming the temp file onto', self.dest):
                directory.rename_verified(temp, data_st, directory, name)
                directory.fsync()
            if self.marker_path:
                result['generation'] = self._write_marker(previous, data_st, fencing_token)
            return self.core.with_lock_wait(result, lock)

    def _stage_beside_dest(self, directory):
        """Return ``(fd, name, (sha256, size))`` of the fsynced temp beside dest holding the transferred bytes.

        A direct transfer's temp was filled by name, so it must still be the
        probe's: a regular file of this user with no other link. A staged
        upload is copied into a fresh temp this process creates.
        """
        staged = self.request.staged_path
        if self.request.direct:
            if not is_temp_of(self.dest, staged):
                raise HandoffError('the transferred file %s is not a temp file of %s; nothing was published'
                                   % (staged, self.dest))
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
                received = self._copy_staged(staged, fd)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp, dir_fd=directory.fd)
            raise
        return fd, temp, received

    def _copy_staged(self, staged, fd):
        """Copy the staged bytes (``reader``, else the file ``staged``) into ``fd``; return ``(sha256, size)``."""
        if self.reader is not None:
            return copy_reader_with_sha256(self.reader, fd)
        src_fd = open_regular(staged)
        try:
            return copy_with_sha256(src_fd, fd)
        finally:
            os.close(src_fd)

    def _write_marker(self, previous, data_st, fencing_token=None):
        """Write a fresh complete marker, with the data's (``data_st``) mode and owner; return its generation."""
        generation = ((previous.generation if previous is not None else None) or 0) + 1
        marker = Marker.complete(self.sha256, self.size, self.core.producer(), generation, fencing_token)
        with explained('writing marker', self.marker_path):
            marker.write(self.marker_path, *marker_attributes(data_st))
        return generation
