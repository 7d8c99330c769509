# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What publishing one file and publishing a set share, on the target side of ``atomic_upload``.

``Upload`` (one file) and ``UploadSet`` (a directory or list ``src``) each
hold a ``PublishCore`` for their paths and hand it themselves as the
``target`` that probes and publishes. The core runs the request's phase:
options checked once, directories not made yet (which check mode
reports), the state mirror, leftover temps, the lock, free space, failure
markers, the direct-transfer offer, the lease check before a rename,
``validate``, and the abort after a failed transfer.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone, stop_if_controller_gone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError, sentences
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import mode_of
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import (
    create_temp_beside, is_temp_of, remove_quietly)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained, filesystem_space
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import directory_mode_of, make_parent_directories
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.trusted_path import others_can_replace
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LeaseLost
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import (
    lock_settings, optional_lock, takes_lock_file)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import (
    PlannedFile, check_parent_directory, check_planned_files)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import STATE_COMPLETE, Marker, MarkerError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import default_lock_path, default_marker_path
from ansible_collections.lockstep.handoff.plugins.module_utils._state_mirror import publish_mirror
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ABORT, ACTION, ACTION_NEED_CHECKSUM, ACTION_TRANSFER, CREATED_DIRECTORIES, DIFF, DIRECT_TRANSFER_REFUSED,
    FAILURE_MARKER_NOTE, INLINE, PROBE, PUBLISH, REASON, REMOVED_TEMPS, SHA256, STAGING_PATH, TEMP_REMOVED, check_response,
    with_probe_findings)


class PublishCore:
    """One publish on one host: ``dest`` (a file, or a set's directory), its marker and lock, and its data.

    ``directory`` is where the data lands (for free space), ``staging_for``
    the path whose protocol temps carry the transferred bytes, ``sha256`` and
    ``size`` those of the data (for a set: of its file list, and the total).
    """

    def __init__(self, module, request, dest, directory, staging_for, sha256, size):
        params = module.params
        self.module = module
        self.params = params
        self.request = request
        self.dest = dest
        self.directory = directory
        self.marker_path = ((params['marker_path'] or default_marker_path(dest, params['state_dir']))
                            if params['marker'] else None)
        self.lock_path = params['lock_path'] or default_lock_path(dest, params['state_dir'])
        self.staging_for = staging_for
        self.sha256 = sha256
        self.size = size
        self.missing_directories = []
        self.created_directories = []

    def run(self, target):
        """Run the request's phase on ``target``; return the result dict. With a state mirror, mirror it."""
        target.check_options()
        mirror = publish_mirror(self.params, self.request.host, self.marker_path, self.module.check_mode)
        if mirror is None:
            return check_response(self.request.phase, self._run_phase(target))
        try:
            result = self._run_phase(target)
        except HandoffError as exc:
            note = mirror.after_failure(exc)
            if note:
                raise HandoffError(sentences(exc.msg, note), **exc.details) from exc
            raise
        if result.get(ACTION) != ACTION_NEED_CHECKSUM:
            mirror.after_phase(self.request.step, result)
        return check_response(self.request.phase, result)

    def _run_phase(self, target):
        step = self.request.step
        if step == ABORT:
            return self._abort()
        if step == PUBLISH:
            return self._publish(target)
        probe = self._probe(target)
        if step == PROBE or probe.get(ACTION) != ACTION_TRANSFER or self.module.check_mode:
            return probe
        result = with_probe_findings(self._publish(target), probe)
        if DIFF in probe:
            result[DIFF] = probe[DIFF]
        return result

    def _probe(self, target):
        removed = self._clean_leftover_temps(target.leftover_temps())
        with self.lock(self.params['lock'] and not self.module.check_mode) as lock:
            result = self.with_lock_wait(target.probe(), lock)
        result[REMOVED_TEMPS] = removed
        return result

    def _publish(self, target):
        """``target.publish()``; a failure marks the marker failed, except for a stale holder or a cancelled job."""
        try:
            return target.publish()
        except (LeaseLost, ControllerGone):
            # A stale holder writes nothing, not even a failed marker: a newer holder owns dest now. A cancelled
            # job neither: nothing failed, and the next run publishes.
            raise
        except HandoffError as exc:
            raise HandoffError(sentences(exc.msg, self.mark_failed(exc.msg)), **exc.details) from exc

    def _clean_leftover_temps(self, temps):
        """Remove temps older than ``remove_temps_older_than``; warn about the others; return the removed.

        A live upload keeps writing its temp, so its mtime stays fresh: an age
        well above the longest transfer never takes a temp that is in use.
        """
        threshold = self.params['remove_temps_older_than']
        removed, kept = [], []
        now = time.time()
        for temp in temps:
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

    def check_planned_files(self, dest_has_temps):
        """Refuse colliding paths: dest (written through temps beside it when ``dest_has_temps``), the marker, and
        the lock when it takes a file lock."""
        file_lock = self.params['lock'] and takes_lock_file(self.params['lock_type'])
        check_planned_files([PlannedFile('dest', self.dest, dest_has_temps),
                             PlannedFile('marker_path', self.marker_path, True),
                             PlannedFile('lock_path', self.lock_path if file_lock else None, False)])

    def check_directories(self, *paths):
        """Make or check the directories of ``paths`` (``(option, path)``) and of the lock file; in check mode note
        the missing ones.

        With ``create_parents`` the missing ones are made (in check mode: listed
        as ``created_directories``, made by the real run); without it a
        missing one fails the task, except in check mode.
        """
        if self.params['lock'] and takes_lock_file(self.params['lock_type']):
            paths += (('lock_path', self.lock_path),)
        if self.params['create_parents']:
            self.created_directories = make_parent_directories(
                [path for option, path in paths if path], directory_mode_of(self.params['directory_mode']),
                self.module.check_mode)
        self.missing_directories = sorted({
            os.path.dirname(path) or '.' for option, path in paths
            if path and not check_parent_directory(path, option, self.module.check_mode)})

    def plan_transfer(self, result, needed):
        """``result`` of a probe that asks for the data, once ``needed`` bytes fit (unmeasurable in a directory
        not made yet); in check mode with such directories it says so, since a real run would write there."""
        if self.missing_directories and self.created_directories:
            result['msg'] = ('check mode: would create %s (create_parents) and publish %s there'
                             % (' and '.join(self.created_directories), self.dest))
        elif self.missing_directories:
            result['msg'] = ('check mode: %s does not exist yet (an earlier task that makes it changed nothing in '
                             'check mode); a real run needs it and would publish %s there'
                             % (' and '.join(self.missing_directories), self.dest))
        else:
            self.check_free_space(needed)
        return result

    def lock(self, wanted):
        return optional_lock(wanted, self.lock_path, holder='lockstep.handoff.atomic_upload',
                             **lock_settings(self.module))

    def with_lock_wait(self, result, lock):
        if lock is not None:
            result['lock_wait'] = lock.waited
        return result

    def base_result(self, changed, action):
        result = {'changed': changed, ACTION: action, 'dest': self.dest, SHA256: self.sha256, 'size': self.size,
                  'marker_path': self.marker_path, 'backup_file': None}
        if self.created_directories:
            result.update({'changed': True, CREATED_DIRECTORIES: self.created_directories})
        return result

    def transfer_path(self):
        """How the bytes reached the target, as the result's ``transfer_path`` says it."""
        if self.request.step == INLINE:
            return INLINE
        return 'direct' if self.request.direct else 'staged'

    def current_marker(self):
        if not self.marker_path:
            return None
        try:
            return Marker.read(self.marker_path)
        except MarkerError:
            return None

    def check_free_space(self, needed):
        with explained('checking free space in', self.directory):
            space = filesystem_space(self.directory)
        if space['read_only']:
            raise HandoffError('the filesystem holding %s is mounted read-only; remount it read-write or '
                               'choose another dest' % self.directory, dest=self.dest, **space)
        if space['free_bytes'] < needed:
            msg = ('the disk is full: the filesystem holding %s has %d bytes free and %s needs %d; free space '
                   'and re-run (dest was not touched)' % (self.directory, space['free_bytes'], self.dest, needed))
            raise HandoffError(sentences(msg, self.mark_failed(msg)), dest=self.dest, **space)

    def mark_failed(self, reason):
        """Leave a ``failed`` marker so consumers stop waiting; return a sentence saying what was done.

        By default (``unless_complete``) a complete marker stays: the previous
        version it describes is still in place and still good to take.
        """
        policy = self.params['failure_marker']
        if not self.marker_path or policy == 'never' or self.module.check_mode:
            return ''
        current = self.current_marker()
        if policy == 'unless_complete' and current is not None and current.state == STATE_COMPLETE:
            return 'The complete marker of the version in place was kept (failure_marker=unless_complete).'
        generation = ((current.generation if current is not None else None) or 0) + 1
        marker = Marker.failed(reason, self.producer(), generation)
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

    def producer(self):
        return '%s on %s' % (self.request.producer or 'lockstep.handoff.atomic_upload', socket.gethostname())

    def offer_direct_transfer(self, result, directory):
        """Create the temp the controller fills by name, where no other user can replace that name.

        The controller's transfer (sftp, scp, a local copy) writes a path and
        follows a symlink swapped in there; so it writes straight into dest's
        directory only when nobody but this user and root can write on the way.
        Otherwise it stages in the connection user's private tmp, and publish
        copies from there into a temp this process holds open.
        """
        result['transfer_path'] = 'staged'
        if not self.request.direct:
            return
        reason = others_can_replace(directory)
        if reason:
            result[DIRECT_TRANSFER_REFUSED] = reason
            return
        with explained('creating temp file in', directory):
            result[STAGING_PATH] = create_temp_beside(self.staging_for)
        result['transfer_path'] = 'direct'

    def confirm_lease(self, lock, result):
        """Right before replacing dest: stop if the job was cancelled, refuse a lost lock; return its fencing token
        (also put in ``result``), if any."""
        stop_if_controller_gone('replacing %s' % self.dest)
        if lock is None:
            return None
        lock.confirm_before_publish(self.dest)
        if lock.fencing_token is not None:
            result['fencing_token'] = lock.fencing_token
        return lock.fencing_token

    def validate(self, temp, fd):
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

    def _abort(self):
        """After a failed transfer: remove the temp, report the filesystem's state, mark the failure."""
        staged = self.request.staged_path
        removed = is_temp_of(self.staging_for, staged) and os.path.lexists(staged)
        if removed:
            remove_quietly(staged)
        result = {'changed': False, TEMP_REMOVED: removed}
        try:
            result.update(filesystem_space(self.directory))
        except OSError:
            pass
        result[REASON] = self._transfer_failure_reason(result)
        reason = 'transfer to %s failed: %s' % (self.directory, result[REASON])
        result[FAILURE_MARKER_NOTE] = self.mark_failed(reason)
        return result

    def _transfer_failure_reason(self, space):
        """Why the connection could not write the bytes, in the target's own terms where it can tell."""
        if space.get('read_only'):
            return 'the filesystem holding %s is mounted read-only' % self.directory
        if 'free_bytes' in space and space['free_bytes'] < self.size:
            return ('the disk is full: the filesystem holding %s has %d bytes free, %d needed'
                    % (self.directory, space['free_bytes'], self.size))
        return self.request.reason or 'the connection reported no reason'


def _last_line(output):
    """``: LINE`` with the last non-empty line a command printed, to say in one line why it failed; else ''."""
    lines = [line.strip() for line in (output or '').splitlines() if line.strip()]
    return ': %s' % lines[-1] if lines else ''
