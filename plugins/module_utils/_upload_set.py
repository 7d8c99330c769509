# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``atomic_upload`` for a set of files (a directory ``src``, or a list of files).

The same three phases as for one file, once for the whole set, so a task costs
a constant number of round trips whatever the file count: ``probe`` answers
which of the announced files differ (and fixes what needs no data: attributes,
the manifest); the controller sends those in one uncompressed tar straight into
a temp file inside ``dest``; ``publish`` reads the tar without trusting it,
copies every member into its own protocol temp file (hashing on the way),
fsyncs, validates, renames each file into place, and writes one manifest
marker last. Until that marker exists the set is not complete. A small set
takes one run instead (``inline``): the tar of every file rides in the module
arguments, and the probe and the publish of what it found changed run in turn.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import checked_members, target_below
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.backup import back_up
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import (
    apply_file_attributes, set_marker_attributes, stats_of_set, trusted_owner)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_name_lengths
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory, UnsafeFile, open_regular, same_inode
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import (
    is_temp_of, remove_durably, remove_quietly, temps_for_names)
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import copy_reader_with_sha256, sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import make_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import entries_from_list, set_digest
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_COMPLETE, Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import SET_ARCHIVE_NAME, set_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained
from ansible_collections.lockstep.handoff.plugins.module_utils._publish_core import PublishCore
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ACTION_TRANSFER, DIFF, FILES, FILES_CHANGED, PROBE)


class UploadSet:
    """One ``atomic_upload`` task with a directory or list ``src``, on one host: ``dest`` is a directory."""

    def __init__(self, module, request, inline=None):
        params = module.params
        self.module = module
        self.params = params
        self.request = request
        # The tar of every file for the inline step (bytes), else None; and what its probe found changed.
        self.inline = inline
        self.found_changed = []
        self.dest = set_directory(params['dest'])
        self.entries = entries_from_list(request.files, 'the files of the request')
        self.by_path = {entry.path: entry for entry in self.entries}
        sha256, size = set_digest(self.entries)
        # Where the data lands, for free-space checks: dest, or its parent until dest is made.
        directory = self.dest if os.path.isdir(self.dest) else os.path.dirname(self.dest) or '.'
        self.core = PublishCore(
            module, request, self.dest, directory, staging_for=os.path.join(self.dest, SET_ARCHIVE_NAME),
            sha256=sha256, size=size)
        self.marker_path = self.core.marker_path

    def run(self):
        """Run the phase the request asks for; return the result dict."""
        return self.core.run(self)

    def check_options(self):
        if not self.params['force']:
            raise HandoffError('force=false applies to one file; with a directory or list src every file of the set '
                               'is published so that the manifest describes what is there. Leave force at true')
        self.core.check_planned_files(dest_has_temps=False)
        if os.path.lexists(self.dest) and not os.path.isdir(self.dest):
            raise HandoffError('src is a directory or a list of files, so dest %s must be a directory too, and it is '
                               'a file; remove it or choose another dest' % self.dest, dest=self.dest)
        if self.marker_path:
            inside = os.path.relpath(os.path.abspath(self.marker_path), os.path.abspath(self.dest))
            if inside in self.by_path:
                raise HandoffError('marker_path %s is the path of a file of the set; the manifest must be a file of '
                                   'its own' % self.marker_path)
        self.core.check_directories(('dest', self.dest), ('marker_path', self.marker_path))
        check_name_lengths(PlannedFile('dest', os.path.join(self.dest, entry.path), True) for entry in self.entries)
        unknown = sorted(set(self.request.changed or ()) - set(self.by_path))
        if unknown:
            raise HandoffError('the request names changed files that are not in the set: %s; nothing was published'
                               % ', '.join(unknown), dest=self.dest)

    def leftover_temps(self):
        """Temps of the set's files and of its archive, in the directories the set writes to."""
        names_by_directory = {}
        for entry in self.entries:
            directory, name = os.path.split(os.path.join(self.dest, entry.path))
            names_by_directory.setdefault(directory, set()).add(name)
        names_by_directory.setdefault(self.dest, set()).add(SET_ARCHIVE_NAME)
        temps = []
        for directory, names in sorted(names_by_directory.items()):
            temps.extend(temps_for_names(directory, names))
        return temps

    def _base_result(self, changed, action):
        result = self.core.base_result(changed, action)
        result.update({FILES: len(self.entries), FILES_CHANGED: []})
        return result

    def _in_place(self, entry, known):
        """``(the file's stat when it holds the entry's data, else None; its sha256 when known)``.

        A complete manifest naming other data for a file of the entry's size
        answers without reading the file, as for a single file.
        """
        target = target_below(self.dest, entry.path, create_directories=False)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return None, None
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size or not trusted_owner(st, self.params):
            return None, None
        if known is not None and known.size == entry.size and known.sha256 != entry.sha256:
            return None, known.sha256
        with explained('reading current', target):
            sha256 = sha256_of_path(target, expected=st)[0]
        return (st if sha256 == entry.sha256 else None), sha256

    def probe(self):
        marker = self.core.current_marker()
        known = {}
        if marker is not None and marker.is_manifest and marker.state == STATE_COMPLETE:
            known = {entry.path: entry for entry in marker.files}
        changed, before, judged = [], [], {}
        for entry in self.entries:
            judged[entry.path], current_sha256 = self._in_place(entry, known.get(entry.path))
            if judged[entry.path] is None:
                changed.append(entry)
                if current_sha256 is not None:
                    before.append('%s  %s' % (current_sha256, entry.path))
        if not changed:
            return self._probe_same_set(marker, judged)
        needed = 2 * sum(entry.size for entry in changed)
        result = self.core.plan_transfer(self._base_result(True, ACTION_TRANSFER), needed)
        result[FILES_CHANGED] = [entry.path for entry in changed]
        if self.module._diff:
            result[DIFF] = dict(before_header=self.dest, after_header=self.dest,
                                before=''.join(line + '\n' for line in before),
                                after=''.join('%s  %s\n' % (entry.sha256, entry.path) for entry in changed))
        self.found_changed = result[FILES_CHANGED]
        if not self.module.check_mode:
            # Made here, not at the publish, because a direct transfer's temp goes inside it; step by step, as
            # create_parents makes directories, so a symlink another user planted on the way is never followed.
            make_directory(os.path.abspath(self.dest))
            if self.request.step == PROBE:
                self.core.offer_direct_transfer(result, self.dest)
        return result

    def _probe_same_set(self, marker, judged):
        """Every file is in place (``judged``: the stat of each, by path): fix attributes and the manifest, transfer
        nothing. Only on those very files: another user who swapped in their own copy of the bytes since would get
        their inode chowned, chmodded and listed."""
        changed = False
        with _Tree(self.dest, create=False) as tree:
            for entry in self.entries:
                directory, name = tree.directory_of(entry.path)
                target = directory.join(name)
                with explained('setting attributes of', target):
                    fd = directory.open_regular(name)
                    try:
                        if not same_inode(os.fstat(fd), judged[entry.path]):
                            raise UnsafeFile('%s was replaced by another file after it was found to hold the data; '
                                             'another user of the directory changed it. Re-run the task' % target,
                                             path=target)
                        changed = apply_file_attributes(self.module, fd, target) or changed
                    finally:
                        os.close(fd)
        action = 'attributes' if changed else 'none'
        if self.marker_path and not (marker is not None and marker.describes_set(self.entries)):
            if not self.module.check_mode:
                self._write_marker(marker)
            changed, action = True, 'marker'
        return self._base_result(changed, action)

    def publish(self):
        """Publish the files the request names from the transferred archive; inline, those the probe found changed
        from the tar of every file the request carried."""
        staged = self.request.staged_path
        names = self.found_changed if self.inline is not None else self.request.changed
        changed = [self.by_path[path] for path in names]
        temps = []
        with _Tree(self.dest, create=True) as tree:
            try:
                if self.inline is not None:
                    with explained('unpacking the archive in the module arguments (inline)', self.dest):
                        self._unpack(tree, io.BytesIO(self.inline), self.by_path, set(names), temps)
                else:
                    with explained('unpacking the transferred archive', staged):
                        with os.fdopen(self._open_archive(staged), 'rb') as handle:
                            self._unpack(tree, handle, {entry.path: entry for entry in changed}, set(names), temps)
                self._check_unsent_files_in_place(set(names))
                with self.core.lock(self.params['lock']) as lock:
                    result = self._base_result(True, ACTION_TRANSFER)
                    result['transfer_path'] = self.core.transfer_path()
                    result[FILES_CHANGED] = [entry.path for entry in changed]
                    result['backup_files'] = self._backups(temps)
                    previous = self.core.current_marker()
                    fencing_token = self.core.confirm_lease(lock, result)
                    if self.marker_path:
                        with explained('removing the previous manifest', self.marker_path):
                            remove_durably(self.marker_path)
                    self._rename_all(tree, temps)
                    temps = []
                    if self.marker_path:
                        result['generation'] = self._write_marker(previous, fencing_token)
                    return self.core.with_lock_wait(result, lock)
            finally:
                for directory, temp, st, dummy in temps:
                    directory.unlink_if_same(temp, st)
                if self.request.direct:
                    remove_quietly(staged)

    def _open_archive(self, staged):
        """The transferred archive, open: in dest (direct: the probe's temp, still ours) or in the private tmp."""
        if not self.request.direct:
            return open_regular(staged)
        if not is_temp_of(self.core.staging_for, staged):
            raise HandoffError('the transferred archive %s is not an archive temp file in %s; nothing was published'
                               % (staged, self.dest))
        fd = open_regular(staged)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_nlink != 1:
            os.close(fd)
            raise UnsafeFile('the transferred archive %s is not the one the probe created (owner uid %d, %d links); '
                             'another user changed it. Nothing was published' % (staged, st.st_uid, st.st_nlink),
                             path=staged)
        return fd

    def _unpack(self, tree, handle, expected, wanted, temps):
        """Copy every checked member of the tar in ``handle`` that is ``wanted`` into a verified, fsynced temp beside
        its target; the tar holds exactly the ``expected`` files.

        Appends ``(Directory, temp name, stat, name)``: each temp gets its
        attributes through its fd, and is renamed later only while its name
        still holds that inode.
        """
        with tarfile.open(fileobj=handle, mode='r:') as tar:
            for member, entry in checked_members(tar, expected):
                if entry.path not in wanted:
                    continue
                directory, name = tree.directory_of(entry.path)
                target = directory.join(name)
                temp_fd, temp = directory.create_temp(name)
                try:
                    temps.append((directory, temp, os.fstat(temp_fd), name))
                    sha256, size = copy_reader_with_sha256(tar.extractfile(member), temp_fd)
                    os.fsync(temp_fd)
                    if (sha256, size) != (entry.sha256, entry.size):
                        raise HandoffError('checksum mismatch after transfer of %s: expected sha256 %s (%d bytes), '
                                           'received %s (%d bytes); dest was not touched, re-run the task'
                                           % (target, entry.sha256, entry.size, sha256, size), dest=self.dest)
                    with explained('setting attributes of', directory.join(temp)):
                        apply_file_attributes(self.module, temp_fd, directory.join(temp), like=directory.lstat(name),
                                              inherit=True)
                        os.fsync(temp_fd)
                    self.core.validate(directory.join(temp), temp_fd)
                finally:
                    os.close(temp_fd)

    def _check_unsent_files_in_place(self, sent):
        """Files the probe found in place must still be there (size checked; the probe checked content)."""
        for entry in self.entries:
            if entry.path in sent:
                continue
            target = os.path.join(self.dest, entry.path)
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
                raise HandoffError('%s changed on the host between the probe and the publish (it was in place and '
                                   'was not sent); the set was not published, re-run the task' % target,
                                   dest=self.dest)

    def _backups(self, temps):
        if not self.params['backup']:
            return []
        return [back_up(directory, name) for directory, dummy, dummy2, name in temps if directory.lstat(name) is not None]

    def _rename_all(self, tree, temps):
        """Rename each temp onto its target (each file atomically, each still the inode written), then flush
        every directory of the set once, and dest's parent, so their entries survive a power cut."""
        for directory, temp, st, name in temps:
            with explained('renaming the temp file onto', directory.join(name)):
                directory.rename_verified(temp, st, directory, name)
        tree.fsync_all()
        for directory, dummy, st, name in temps:
            self._check_placed_by_path(os.path.relpath(directory.join(name), self.dest), st)

    def _check_placed_by_path(self, relative, st):
        """``dest/relative``, looked up again from dest's path, must be the file ``st`` this task renamed there.

        The renames went through directory fds held since the unpack; another
        user who moved a directory of the set away meanwhile made them land
        elsewhere, and the set is then not in place whatever the fds say.
        """
        try:
            with _Tree(self.dest, create=False) as fresh:
                directory, name = fresh.directory_of(relative)
                placed = directory.lstat(name)
        except (OSError, UnsafeFile):
            placed = None
        if placed is None or not same_inode(placed, st):
            target = os.path.join(self.dest, relative)
            raise UnsafeFile('%s is not the file this task published there: another user moved it, or a directory '
                             'above it, away during the publish, so the set is not in place. Make sure only trusted '
                             'users can write %s and its subdirectories, then re-run the task' % (target, self.dest),
                             path=target)

    def _write_marker(self, previous, fencing_token=None):
        """Write a fresh complete manifest (under a lease: its fencing token); return its generation (previous + 1)."""
        generation = ((previous.generation if previous is not None else None) or 0) + 1
        marker = Marker.complete_set(self.entries, self.core.producer(), generation, fencing_token)
        with explained('writing manifest', self.marker_path):
            marker.write(self.marker_path, *set_marker_attributes(stats_of_set(self.dest, self.entries)))
        return generation


class _Tree:
    """dest and its subdirectories, each opened once through its parent's fd (never through a link)."""

    def __init__(self, root, create):
        self.create = create
        self.parent = Directory.open(os.path.dirname(root))
        self.directories = {'': self.parent.subdirectory(os.path.basename(root), create=create)}

    def directory_of(self, relative_path):
        """``(Directory, name)`` holding ``relative_path`` below dest (already checked to be relative)."""
        parts = relative_path.split('/')
        key = ''
        for part in parts[:-1]:
            child = part if not key else key + '/' + part
            if child not in self.directories:
                self.directories[child] = self.directories[key].subdirectory(part, create=self.create)
            key = child
        return self.directories[key], parts[-1]

    def fsync_all(self):
        for key in sorted(self.directories):
            with explained('flushing directory', self.directories[key].path):
                self.directories[key].fsync()
        self.parent.fsync()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for directory in self.directories.values():
            directory.close()
        self.parent.close()
