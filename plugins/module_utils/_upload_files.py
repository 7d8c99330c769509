# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The target side of ``atomic_upload`` for a list of files, each with its own dest, in one or two module runs.

Each file is published exactly as a single-file task publishes it (its own
temp, fsync, rename and protocol-v1 marker, its own lock), so consumers and
``handoff.sh`` see no difference; only the round trips are shared. ``probe``
runs every file's probe and answers which must be sent; the controller sends
those in one uncompressed tar to the connection user's private remote temp
directory (never into a directory another user can write); ``publish`` reads
the tar without trusting it and hands each member to that file's publish as
its source. A small list takes one run instead (``inline``): the tar of every
file comes with the request, and the run probes each file, then publishes
those the probe found changed, from the tar in memory. A file that fails is
reported in its own result; the others go on.
"""

from __future__ import annotations

import io
import tarfile

from ansible_collections.lockstep.handoff.plugins.module_utils._controller import ControllerGone
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.archive import checked_members
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import open_regular
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explained
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.manifest import FileEntry
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ACTION, ACTION_TRANSFER, DIFF_BEFORE, FILES, FILES_CHANGED, INLINE, PROBE, PUBLISH, Request, check_response,
    with_probe_findings)
from ansible_collections.lockstep.handoff.plugins.module_utils._upload import Upload

# The options a list's item sets for its own file; every other option of the task applies to all files.
PER_FILE_OPTIONS = ('dest', 'mode', 'owner', 'group', 'marker_path', 'lock_path')


class _FileModule:
    """The task's module as one file of the list sees it: its params with that file's options."""

    def __init__(self, module, entry):
        self._module = module
        self.params = dict(module.params, src=None, content=None,
                           **{option: entry[option] for option in PER_FILE_OPTIONS})

    def __getattr__(self, name):
        return getattr(self._module, name)


class UploadFiles:
    """One ``atomic_upload`` task with a list of files on one host."""

    def __init__(self, module, request, inline=None):
        self.module = module
        self.request = request
        self.entries = request.files
        # The tar of every file for the inline step (bytes), else None.
        self.inline = inline

    def run(self):
        step = self.request.step
        results = self._probe() if step == PROBE else self._inline() if step == INLINE else self._publish()
        changed = [str(number) for number, result in enumerate(results) if result.get(ACTION) == ACTION_TRANSFER]
        return check_response(self.request.phase, {
            'changed': any(result.get('changed') for result in results), FILES: results,
            FILES_CHANGED: changed if step in (PROBE, INLINE) else [],
            ACTION: ACTION_TRANSFER if changed else 'none'})

    def _upload(self, entry, phase, reader=None, **fields):
        request = Request(phase, dict(fields, sha256=entry['sha256'], size=entry['size'],
                                      producer=self.request.producer, host=self.request.host, direct=False))
        return Upload(_FileModule(self.module, entry), request, reader=reader)

    def _probe(self):
        return [_outcome(entry, lambda entry=entry: self._probe_one(entry)) for entry in self.entries]

    def _probe_one(self, entry):
        """The file's probe; in check mode a file whose directories do not exist yet is a change to come (this
        task's ``create_parents``, or a task before it, would create them) rather than a failure."""
        upload = self._upload(entry, PROBE, max_diff_size=self.request.max_diff_size)
        if self.module.check_mode:
            upload.check_options()
            if upload.core.missing_directories:
                result = dict(upload.core.base_result(True, ACTION_TRANSFER),
                              missing_directories=upload.core.missing_directories)
                if self.module._diff:
                    result[DIFF_BEFORE] = dict(absent=True)
                return result
        return upload.run()

    def _publish(self):
        """Publish every file the archive holds; the others' results say they were in place at the probe."""
        known = set(str(number) for number in range(len(self.entries)))
        unknown = sorted(set(self.request.changed) - known)
        if unknown:
            raise HandoffError('the request names files that are not in the list: %s; nothing was published'
                               % ', '.join(unknown))
        results = [{'dest': entry['dest'], 'changed': False, ACTION: 'none'} for entry in self.entries]
        with explained('opening the transferred archive', self.request.staged_path):
            fd = open_regular(self.request.staged_path)
        with open(fd, 'rb') as handle:
            for name, result in self._publish_from(handle, self.request.changed, self.request.staged_path).items():
                results[int(name)] = result
        return results

    def _inline(self):
        """Probe every file, then publish those found changed from the tar the request carried (every file's)."""
        results = self._probe()
        changed = [str(number) for number, result in enumerate(results) if result.get(ACTION) == ACTION_TRANSFER]
        if self.module.check_mode or not changed:
            return results
        published = self._publish_from(io.BytesIO(self.inline), changed, 'the module arguments (inline)', every=True)
        for name, result in published.items():
            probe = results[int(name)]
            results[int(name)] = with_probe_findings(result, probe)
            if not result.get('failed'):
                result['transfer_path'] = INLINE
                if DIFF_BEFORE in probe:
                    result[DIFF_BEFORE] = probe[DIFF_BEFORE]
        return results

    def _publish_from(self, handle, changed, where, every=False):
        """``{name: result}`` of publishing each file ``changed`` names from the tar in ``handle`` (read without
        trusting it); ``every``: the tar holds every file of the list, those in place are skipped."""
        sent = {name: FileEntry(name, self.entries[int(name)]['size'], self.entries[int(name)]['sha256'])
                for name in (map(str, range(len(self.entries))) if every else changed)}
        results = {}
        with tarfile.open(fileobj=handle, mode='r:') as tar:
            for member, dummy in checked_members(tar, sent):
                if member.name not in changed:
                    continue
                entry = self.entries[int(member.name)]
                upload = self._upload(entry, PUBLISH, reader=tar.extractfile(member), staged_path=where)
                results[member.name] = _outcome(entry, upload.run)
        return results


def _outcome(entry, run):
    """The result of ``run`` for the file ``entry``, or its failure as a result (the other files go on).

    A cancelled job stops the whole list: nothing failed, and the next run publishes the rest.
    """
    try:
        return run()
    except ControllerGone:
        raise
    except HandoffError as exc:
        return dict(exc.details, dest=entry['dest'], failed=True, changed=False, msg=exc.msg)
