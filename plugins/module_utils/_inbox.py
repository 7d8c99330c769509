# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``locked_move`` on a directory: every ready file of an inbox, in one module run.

One task per file costs a module run per file; a consumer draining an inbox
of hundreds of files wants one run that moves what is ready, leaves what is
not (yet), and says which is which. Each file is moved by the single-file
logic, under its own lock (or under one lock for the batch when given).

When a manifest marker describes the directory (``SRC.done``, written last by
a set upload), the files it lists are judged against it instead of markers of
their own, and keep their relative paths below ``dest``. The manifest is dealt
with (removed, moved, kept) only once none of its files is left in ``src``, so
a crash part-way leaves it for the next run, which finds the moved files
already in place and finishes: every file still moves exactly once.
"""

from __future__ import annotations

import collections
import fnmatch
import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import target_below
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.attributes import set_marker_attributes, stats_of_set
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_planned_files
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import (
    remove_durably, temps_for_names, write_bytes_durably)
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import LockTimeout
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import (
    lock_settings, optional_lock, takes_lock_file)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import (
    STATE_FAILED, Marker, MarkerError)
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import default_marker_path, is_protocol_name, set_directory
from ansible_collections.lockstep.handoff.plugins.module_utils._move_batch import BatchMove
from ansible_collections.lockstep.handoff.plugins.module_utils._rollback import Rollback
from ansible_collections.lockstep.handoff.plugins.module_utils._move import (
    HOLDER, Move, NotReady, ProducerFailed, move_options, report_leftover_temps)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.parents import make_directory


class LockedMove:
    """A ``locked_move`` task: one file, a list of files, or every ready file of an inbox directory."""

    def __init__(self, module):
        self.module = module

    def run(self):
        params = self.module.params
        if params['rollback']:
            return Rollback(self.module).run()
        if params['files'] is not None:
            return BatchMove(self.module).run()
        if os.path.isdir(params['src']) and not os.path.islink(params['src']):
            return InboxMove(self.module).run()
        return Move(self.module, move_options(params), params['src'], params['dest'], params['marker_path'],
                    params['dest_marker_path'], params['lock_path']).run()


def matches(name, patterns):
    """True when ``name`` matches one of the shell globs ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def inbox_files(directory, patterns, skipped=None):
    """Names in ``directory`` that are data files matching ``patterns``: not hidden, no marker, lock or temp.

    A file listed but gone by the time it is looked at was taken by another
    consumer draining the same inbox: it is no longer this inbox's to move.
    Symlinks, FIFOs, sockets and devices that match are appended to
    ``skipped`` as ``{path, reason}``, so an operator sees them; directories
    are not files to move and are passed over.
    """
    names = []
    for name in sorted(os.listdir(directory)):
        if is_protocol_name(name):
            continue
        if not matches(name, patterns):
            continue
        try:
            mode = os.lstat(os.path.join(directory, name)).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode):
            names.append(name)
        elif not stat.S_ISDIR(mode) and skipped is not None:
            skipped.append({'path': os.path.join(directory, name), 'reason': 'not a regular file (%s); only regular '
                            'files are moved' % _kind(mode)})
    return names


def _kind(mode):
    if stat.S_ISLNK(mode):
        return 'a symlink'
    if stat.S_ISFIFO(mode):
        return 'a FIFO'
    if stat.S_ISSOCK(mode):
        return 'a socket'
    return 'a device'


class InboxMove:
    """Move every ready file from the ``src`` directory into the ``dest`` directory."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.src = set_directory(self.params['src'])
        self.dest = set_directory(self.params['dest'])
        state_dir = self.params['state_dir']
        self.manifest_path = self.params['marker_path'] or default_marker_path(self.src, state_dir)
        self.dest_manifest_path = self.params['dest_marker_path'] or default_marker_path(self.dest, state_dir)
        self.lock_options = lock_settings(module)
        self.move_options = move_options(self.params)

    def _check_options(self):
        file_lock = takes_lock_file(self.params['lock_type'])
        check_planned_files([
            PlannedFile('src', self.src, False), PlannedFile('dest', self.dest, False),
            PlannedFile('marker_path', self.manifest_path, True),
            PlannedFile('dest_marker_path', self.dest_manifest_path if self.params['marker'] == 'move' else None, True),
            PlannedFile('lock_path', self.params['lock_path'] if file_lock else None, False)])
        if os.path.exists(self.dest) and not os.path.isdir(self.dest):
            raise HandoffError('src %s is a directory, so dest %s must be a directory too' % (self.src, self.dest))
        if os.path.abspath(self.src) == os.path.abspath(self.dest):
            raise HandoffError('src and dest are the same directory (%s)' % self.src)
        if not os.path.isdir(self.dest) and not self.module.check_mode:
            # In check mode the task that makes it made nothing either: report what would move there.
            if not self.params['create_parents']:
                raise HandoffError('dest directory %s does not exist; create it first or set create_parents=true'
                                   % self.dest, dest=self.dest)
            make_directory(os.path.abspath(self.dest))

    def _manifest(self):
        """The complete manifest describing ``src``, or None (no manifest: each file has its own marker).

        A failed marker there, or a malformed one, fails the task: the
        producer's files are not to be taken one by one as if nobody had
        described them.
        """
        try:
            manifest = Marker.read(self.manifest_path)
        except MarkerError as exc:
            raise HandoffError('not moving the set in %s: %s' % (self.src, exc.msg), marker_path=self.manifest_path)
        if manifest is not None and manifest.state == STATE_FAILED:
            raise HandoffError('not moving the set in %s: its producer marked it failed: %s (marker %s)'
                               % (self.src, manifest.reason or 'no reason given', self.manifest_path),
                               marker_path=self.manifest_path)
        return manifest if manifest is not None and manifest.is_manifest else None

    def run(self):
        self._check_options()
        outcome = {'moved': [], 'already_moved': [], 'not_ready': [], 'busy': [], 'failed_by_producer': [],
                   'skipped': []}
        manifest = self._manifest() if self.params['require_marker'] else None
        covered = {entry.path: entry for entry in manifest.files} if manifest is not None else {}
        with explained('listing', self.src):
            names = sorted(set(inbox_files(self.src, self.params['patterns'], outcome['skipped'])) |
                           {path for path in covered if matches(path, self.params['patterns'])})
        batch_lock = self.params['lock_path']
        with optional_lock(bool(batch_lock) and not self.module.check_mode, batch_lock, holder=HOLDER,
                           **self.lock_options) as lock:
            for name in names:
                self._move_one(name, batch_lock, lock, outcome, covered.get(name))
            manifest_state = self._handle_manifest(manifest) if manifest is not None else None
        result = self._result(outcome, lock.waited if lock is not None else 0.0)
        if manifest is not None:
            result['manifest'] = dict(path=self.manifest_path, files=len(manifest.files), generation=manifest.generation,
                                      state=manifest_state)
            result['changed'] = result['changed'] or manifest_state in ('removed', 'moved')
        return result

    def _handle_manifest(self, manifest):
        """Once no file of the set is left in src: remove, move or keep the manifest; return what was done.

        Re-read first: a manifest that changed meanwhile (a new publish) is not
        the one whose files were just moved, and stays.
        """
        if any(os.path.lexists(os.path.join(self.src, entry.path)) for entry in manifest.files):
            return 'pending'
        action = self.params['marker']
        if action == 'keep':
            return 'kept'
        if self.module.check_mode:
            return 'would be ' + ('removed' if action == 'remove' else 'moved')
        try:
            current = Marker.read(self.manifest_path)
        except MarkerError:
            current = None
        if current is None or current.generation != manifest.generation or current.files != manifest.files:
            return 'replaced by the producer'
        if action == 'move':
            mode, owner = set_marker_attributes(stats_of_set(self.dest, manifest.files))
            with explained('writing manifest', self.dest_manifest_path):
                write_bytes_durably(self.dest_manifest_path, current.to_bytes(), mode, owner)
        with explained('removing manifest', self.manifest_path):
            remove_durably(self.manifest_path)
        return 'moved' if action == 'move' else 'removed'

    def _move_one(self, name, batch_lock, lock, outcome, entry=None):
        if entry is not None:
            target_below(self.src, name, create_directories=False)
            with explained('making the directories of', os.path.join(self.dest, name)):
                dest = target_below(self.dest, name, create_directories=not self.module.check_mode)
            mover = Move(self.module, self.move_options, os.path.join(self.src, name), dest, marker_path=self.manifest_path,
                         lock_path=batch_lock, entry=entry, set_directory=self.src, lock_options=self.lock_options)
        else:
            mover = Move(self.module, self.move_options, os.path.join(self.src, name), os.path.join(self.dest, name),
                         lock_path=batch_lock, lock_options=self.lock_options)
        try:
            result = mover.move_holding_lock(lock) if batch_lock else mover.move_under_lock()
        except NotReady as exc:
            outcome['not_ready'].append({'src': mover.src, 'reason': exc.msg})
        except ProducerFailed as exc:
            outcome['failed_by_producer'].append({'src': mover.src, 'reason': exc.msg})
        except LockTimeout as exc:
            outcome['busy'].append({'src': mover.src, 'reason': exc.msg})
        except (UnsafeFile, MarkerError) as exc:
            outcome['skipped'].append({'path': mover.src, 'reason': exc.msg})
        else:
            entry = {key: result.get(key) for key in ('src', 'dest', 'sha256', 'size', 'cross_device', 'msg')}
            outcome['moved' if result['changed'] else 'already_moved'].append(entry)

    @staticmethod
    def _leftover_temps(outcome):
        """Temps beside the dests this drain reached, from one listing per dest directory."""
        names = collections.defaultdict(set)
        for moved in outcome['moved'] + outcome['already_moved']:
            names[os.path.dirname(moved['dest']) or '.'].add(os.path.basename(moved['dest']))
        return sorted(temp for directory, wanted in names.items() for temp in temps_for_names(directory, wanted))

    def _result(self, outcome, lock_wait):
        moved = len(outcome['moved'])
        msg = ('%s %d file(s) from %s to %s; %d not ready, %d busy, %d already moved, %d failed by their producer, '
               '%d skipped' % ('would move' if self.module.check_mode else 'moved', moved, self.src, self.dest,
                               len(outcome['not_ready']), len(outcome['busy']), len(outcome['already_moved']),
                               len(outcome['failed_by_producer']), len(outcome['skipped'])))
        leftover = report_leftover_temps(self.module, {}, self._leftover_temps(outcome), self.dest)
        if outcome['failed_by_producer']:
            raise HandoffError(msg + ': ' + '; '.join(item['reason'] for item in outcome['failed_by_producer']),
                               lock_wait=lock_wait, **outcome, **leftover)
        return dict(changed=moved > 0, msg=msg, src=self.src, dest=self.dest, lock_path=self.params['lock_path'],
                    lock_wait=lock_wait, **outcome, **leftover)
