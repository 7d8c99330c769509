# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``locked_move`` with ``rollback=true``: put back the version the last promotion replaced, under the same locks.

Each dest is rolled back under the lock a move onto it takes (taken in the
order of the lock paths, as a batch move takes them), by ``roll_back``:
exactly once, so a re-run after a rollback, or after a rollback killed
half-way, finishes it and never restores an older version on top.
"""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._batch import check_distinct
from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import Directory
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.generations import kept_generations, roll_back, rolled_back_already
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import lock_settings, optional_lock, takes_lock_file
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.checks import PlannedFile, check_planned_files
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    default_lock_path, rollback_record_name)

HOLDER = 'lockstep.handoff.locked_move'

RESTORED = 'restored'
UNCHANGED = 'unchanged'
FAILED = 'failed'


class Rollback:
    """Roll back ``dest``, or the dest of every file of ``files``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def run(self):
        params = self.params
        items = params['files'] if params['files'] is not None else [dict(dest=params['dest'], lock_path=params['lock_path'])]
        check_distinct(items, 'dest', 'files')
        targets = [(item.get('lock_path') or default_lock_path(item['dest'], params['state_dir']), item['dest'])
                   for item in items]
        outcomes = dict((dest, self._roll_back_one(dest, lock_path)) for lock_path, dest in sorted(targets))
        results = [outcomes[dest] for lock_path, dest in targets]
        counts = dict((status, sum(1 for result in results if result['status'] == status))
                      for status in (RESTORED, UNCHANGED, FAILED))
        changed = counts[RESTORED] > 0
        summary = '%s the previous version of %d of %d file(s), %d rolled back already' % (
            'would restore' if self.module.check_mode else 'restored', counts[RESTORED], len(results), counts[UNCHANGED])
        if counts[FAILED]:
            raise HandoffError('%d of %d file(s) not rolled back (%s): %s' % (
                counts[FAILED], len(results), summary,
                '; '.join('%s: %s' % (result['dest'], result['msg']) for result in results if result['failed'])),
                changed=changed, results=results)
        if params['files'] is None:
            return dict(results[0], msg=results[0]['msg'])
        return dict(changed=changed, msg=summary, results=results)

    def _roll_back_one(self, dest, lock_path):
        result = dict(dest=dest, lock_path=lock_path, changed=False, failed=False, restored_sha256=None,
                      replaced_sha256=None)
        try:
            # An OSError of one file (another user changing the directory mid-rollback) fails that file alone.
            with explained('rolling back', dest):
                result.update(self._under_lock(dest, lock_path))
        except ControllerGone:
            raise
        except HandoffError as exc:
            result.update(status=FAILED, failed=True, msg=exc.msg)
        return result

    def _under_lock(self, dest, lock_path):
        directory, name = os.path.dirname(dest), os.path.basename(dest)
        check_planned_files([PlannedFile('dest', dest, True),
                             PlannedFile('the rollback record of dest', os.path.join(directory, rollback_record_name(name)),
                                         True),
                             PlannedFile('lock_path', lock_path if takes_lock_file(self.params['lock_type']) else None,
                                         False)])
        check_mode = self.module.check_mode
        with optional_lock(not check_mode, lock_path, holder=HOLDER, **lock_settings(self.module)) as lock:
            with Directory.open(directory) as dest_dir:
                if check_mode:
                    return self._would_roll_back(dest_dir, name)
                changed, restored, replaced = roll_back(dest_dir, name, lambda: lock.confirm_before_publish(dest))
        if not changed:
            return dict(status=UNCHANGED, restored_sha256=restored, replaced_sha256=replaced,
                        msg='already rolled back: %s is the version restored last time (sha256 %s)' % (dest, restored))
        return dict(status=RESTORED, changed=True, restored_sha256=restored, replaced_sha256=replaced,
                    msg='restored the previous version of %s (sha256 %s)' % (dest, restored))

    def _would_roll_back(self, dest_dir, name):
        """Check mode: what a real run would do, judged the same way, without changing anything."""
        record = rolled_back_already(dest_dir, name)
        if record is not None:
            return dict(status=UNCHANGED, restored_sha256=record.get('restored'), replaced_sha256=record.get('replaced'),
                        msg='already rolled back: %s is the version restored last time' % dest_dir.join(name))
        if not kept_generations(dest_dir, name):
            raise HandoffError('no previous version of %s is kept: nothing to roll back to' % dest_dir.join(name),
                               path=dest_dir.join(name))
        return dict(status=RESTORED, changed=True, msg='would restore the previous version of %s' % dest_dir.join(name))
