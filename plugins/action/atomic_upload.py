# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``atomic_upload``: hash the source, probe, send the bytes, publish.

Three steps per host: a probe (is anything to send? where may it go?), the
transfer (straight into the temp file beside dest when the probe says no other
user can replace that name, else through the connection user's remote temp
directory), and the publish. Unchanged
data costs one module run and no transfer.

A directory ``src``, or a list of files, takes the same three steps once for
the whole set: the probe gets every file's path, size and sha256 and answers
which differ, and those travel in one tar archive, so the round trips do not
grow with the number of files. A listed file lands at its base name below dest.
A set whose bytes add up to little (``INLINE_UP_TO_BYTES``) takes a single
module run that carries them all, probes, and publishes what changed.

``files`` (a list of files, each with its own dest) takes one probe, one
transfer and one publish too, but each file is published on its own by
protocol v1 (its temp, rename and marker), as a task of its own would. A list
whose bytes add up to little (``INLINE_UP_TO_BYTES``) takes a single module
run that carries them all, probes, and publishes what changed.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.basic import FILE_COMMON_ARGUMENTS
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import sentences
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.options import redis_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._upload_options import (
    UPLOAD_RULES, check_src, upload_argument_spec)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.diff import read_for_diff
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.hashing import sha256_of_path
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import default_marker_path
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    ABORT, ABORT_SET, ACTION, ACTION_NEED_CHECKSUM, ACTION_TRANSFER, CREATED_DIRECTORIES, DIFF, DIFF_BEFORE,
    FAILURE_MARKER_NOTE, FILES, FILES_CHANGED, INLINE, INLINE_FILES, INLINE_OPTION, INLINE_SET, INLINE_UP_TO_BYTES,
    INTERNAL_RESPONSE_KEYS, PROBE, PROBE_FILES, PROBE_SET, PUBLISH, PUBLISH_FILES, PUBLISH_SET, REASON, REQUEST_OPTION,
    SHA256, STAGING_PATH, TEMP_REMOVED, RequestError, build_request, check_response, encode_inline, step_of,
    with_probe_findings)
from ansible_collections.lockstep.handoff.plugins.plugin_utils.orphaned_worker import WorkerParent
from ansible_collections.lockstep.handoff.plugins.plugin_utils.pipelining import PipelinedByDefault
from ansible_collections.lockstep.handoff.plugins.plugin_utils.transfer_report import TransferReport
from ansible_collections.lockstep.handoff.plugins.plugin_utils.uncompressed_ssh import applies_to, compresses, uncompressed

MODULE = 'lockstep.handoff.atomic_upload'
# transfer_compression=auto sends this much or more without ssh compression: below it, the set-up of a
# separate ssh connection (about a quarter of a second) costs more than zlib does.
UNCOMPRESSED_FROM_BYTES = 8 * 1024 * 1024

# A source of this size or more is hashed while the probe and the transfer run (hashlib releases the GIL):
# smaller ones are hashed first, so an unchanged one costs a single probe.
BACKGROUND_HASH_FROM_BYTES = 256 * 1024 * 1024

display = Display()


def _diff_side(side, prefix, view):
    """One side of an Ansible diff dict from a ``read_for_diff`` view."""
    if 'content' in view:
        return {side: view['content']}
    if 'absent' in view:
        return {side: ''}
    if 'larger' in view:
        return {prefix + '_larger': view['larger']}
    return {prefix + '_binary': 1}


class ActionModule(PipelinedByDefault, ActionBase):
    """Drive the probe / transfer / publish phases of the module (pipelined as ``plugin_utils.pipelining`` says)."""

    # The remote temp directory is made only when the transfer needs it (become).
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        super().run(tmp, task_vars)
        self._transfer_report = TransferReport()
        self._worker_parent = WorkerParent()
        spec = dict(upload_argument_spec())
        spec.update(FILE_COMMON_ARGUMENTS)
        try:
            dummy, args = self.validate_argument_spec(argument_spec=spec, **UPLOAD_RULES)
        except AnsibleActionFail as exc:
            raise AnsibleActionFail(_with_type_names(exc.message)) from None
        try:
            args['src'] = check_src(args['src'])
        except ValueError as exc:
            raise AnsibleActionFail(to_text(exc))
        if args['files'] is not None:
            try:
                return self._reported(self._upload_files(args, task_vars))
            finally:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        found, sources = self._set_sources(args['src'], args['dest'])
        if sources is not None:
            try:
                return self._reported(self._upload_set(args, sources, task_vars))
            finally:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        local_path, is_temporary = self._local_source(args, found)
        try:
            return self._reported(self._upload(args, local_path, task_vars))
        finally:
            if is_temporary:
                os.unlink(local_path)
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _reported(self, result):
        """``result`` with the transfer report; at ``-v`` its one line is shown as the task runs."""
        self._transfer_report.add_to(result)
        if not result.get('failed'):
            display.v('atomic_upload: %s' % result['msg'], host=self._play_context.remote_addr)
        return result

    def _local_source(self, args, found):
        """Return ``(path on the controller, whether it is a temp file to delete)``."""
        if args['content'] is not None:
            fd, path = tempfile.mkstemp(dir=C.DEFAULT_LOCAL_TMP)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(to_bytes(args['content'], errors='surrogate_or_strict'))
            return path, True
        return os.path.realpath(self._loader.get_real_file(found, decrypt=args['decrypt'])), False

    def _set_sources(self, src, dest):
        """``(found src, None)`` for one file or content; ``(None, [(relative path, path)])`` for a set."""
        if isinstance(src, list):
            return None, _listed_files(src, [self._find_source(item) for item in src])
        found = self._find_source(src) if src is not None else None
        if found is not None and os.path.isdir(found):
            self._check_dest_outside_src(found, dest)
            sources = _files_below(found)
            if not sources:
                raise AnsibleActionFail('src %s holds no files; there is nothing to publish' % found)
            return None, sources
        return found, None

    def _check_dest_outside_src(self, src_directory, dest):
        """With the local connection dest is on this machine: a dest inside src would nest one level deeper on
        every run (the published tree becomes part of the next run's src)."""
        if self._connection.transport not in ('local', 'ansible.builtin.local'):
            return
        if _inside(os.path.realpath(dest), os.path.realpath(src_directory)):
            raise AnsibleActionFail('dest %s is inside src %s on this machine (local connection): each run would '
                                    'publish the previous run\'s copy again, one level deeper. Choose a dest outside '
                                    'src' % (dest, src_directory))

    def _find_source(self, src):
        try:
            return self._find_needle('files', src)
        except AnsibleError as exc:
            raise AnsibleActionFail('src %s was not found on the controller: %s' % (src, to_text(exc)))

    def _module_args(self, args, request, inline=None):
        # Options by their own names only (an alias beside its option makes the module warn); redis_* options
        # the task leaves unset fall back to LOCKSTEP_REDIS_* where the module runs, as for every other module
        # of the collection, not to the controller's environment.
        canonical = set(upload_argument_spec()) | set(FILE_COMMON_ARGUMENTS)
        module_args = {option: value for option, value in args.items()
                       if option in canonical and (option in self._task.args or option not in redis_argument_spec())}
        module_args['content'] = None
        module_args['files'] = None
        module_args[REQUEST_OPTION] = request
        if inline is not None:
            module_args[INLINE_OPTION] = inline
        return module_args

    def _producer(self):
        """Who the marker names as having written the data."""
        return 'lockstep.handoff.atomic_upload from %s (task %r)' % (socket.gethostname(), self._task.get_name())

    def _run_phase(self, args, task_vars, phase, inline=None, **fields):
        """Run the module for ``phase`` with exactly that phase's request ``fields`` (and the bytes ``inline``
        carries); return its checked result."""
        try:
            with self._transfer_report.phase(step_of(phase)):
                result = self._execute_module(module_name=MODULE, task_vars=task_vars, module_args=self._module_args(
                    args, build_request(phase, **fields), inline))
            return check_response(phase, result)
        except RequestError as exc:
            raise AnsibleActionFail('atomic_upload: %s (a bug in lockstep.handoff; please report it)' % exc.msg)

    def _upload(self, args, local_path, task_vars):
        size = os.path.getsize(local_path)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix='atomic_upload-sha256') as pool:
            hashing = pool.submit(self._transfer_report.timed('hash', sha256_of_path), local_path)
            if size < BACKGROUND_HASH_FROM_BYTES:
                hashing.result()
            return self._upload_hashing(args, local_path, size, hashing, task_vars)

    def _upload_hashing(self, args, local_path, size, hashing, task_vars):
        """Probe, send and publish while ``hashing`` (a future of the source's sha256) may still run.

        The probe needs the checksum only when dest is a file of the source's
        size; otherwise the transfer starts at once and the controller's hash
        of a large source overlaps it.
        """
        direct = not self._play_context.become
        common = dict(sha256=_digest_if_done(hashing, size, local_path), size=size, producer=self._producer(),
                      host=task_vars.get('inventory_hostname'))
        probe_fields = dict(direct=direct, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF)
        probe = self._run_phase(args, task_vars, PROBE, **dict(common, **probe_fields))
        if probe.get(ACTION) == ACTION_NEED_CHECKSUM:
            common['sha256'] = _digest_of(hashing, size, local_path)
            probe = self._run_phase(args, task_vars, PROBE, **dict(common, **probe_fields))
        diff_before = probe.pop(DIFF_BEFORE, None)
        if probe.get('failed') or probe.get(ACTION) != ACTION_TRANSFER or self._task.check_mode:
            return self._finish(_with_checksum(probe, hashing, size, local_path), args, local_path, diff_before)
        staging_path = probe.get(STAGING_PATH)
        if staging_path:
            self._send_direct(args, task_vars, local_path, staging_path, dict(common, phase=ABORT))
        else:
            staging_path = self._send_via_remote_tmp(args, local_path)
        common['sha256'] = _digest_of(hashing, size, local_path)
        self._stop_if_cancelled(args, task_vars, staging_path, dict(common, phase=ABORT))
        publish = self._run_phase(args, task_vars, PUBLISH, direct=bool(probe.get(STAGING_PATH)),
                                  staged_path=staging_path, **common)
        return self._finish(with_probe_findings(publish, probe), args, local_path, diff_before)

    def _send_direct(self, args, task_vars, local_path, staging_path, abort):
        """Put the bytes into the probe's temp file; on failure run the ``abort`` request (its phase and fields
        but the temp and the reason) to remove it, and say why."""
        try:
            self._send(args, local_path, staging_path, 'direct')
        except AnsibleError as exc:
            aborted = self._run_phase(args, task_vars, staged_path=staging_path, reason=to_text(exc), **abort)
            raise AnsibleActionFail(sentences(
                'transfer to %s failed: %s' % (os.path.dirname(args['dest']), aborted.get(REASON, to_text(exc))),
                'dest %s was not touched; the temp file was %s'
                % (args['dest'], 'removed' if aborted.get(TEMP_REMOVED) else 'not found'),
                aborted.get(FAILURE_MARKER_NOTE)))

    def _stop_if_cancelled(self, args, task_vars, staging_path, abort):
        """Publish nothing once ansible-playbook is gone: remove the sent temp with the ``abort`` request (as for
        ``_send_direct``) and fail instead."""
        if not self._worker_parent.gone():
            return
        # Nothing failed: no failed marker either, consumers keep what is in place.
        aborted = self._run_phase(dict(args, failure_marker='never'), task_vars, staged_path=staging_path,
                                  reason='the job was cancelled', **abort)
        raise AnsibleActionFail('ansible-playbook went away (a cancelled job) after the data was sent; dest %s was '
                                'not touched and the sent temp file was %s'
                                % (args['dest'], 'removed' if aborted.get(TEMP_REMOVED) else 'not found'))

    def _send_via_remote_tmp(self, args, local_path, name='atomic_upload.src'):
        """Stage in the remote temp directory, readable by the become user."""
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        remote_path = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
        self._send(args, local_path, remote_path, 'staged')
        self._fixup_perms2((self._connection._shell.tmpdir, remote_path), execute=False)
        return remote_path

    def _send(self, args, local_path, remote_path, path):
        """Transfer one file (by ``path``: ``direct`` or ``staged``), without ssh compression when
        ``transfer_compression`` says so."""
        size = os.path.getsize(local_path)
        if not self._sends_uncompressed(args['transfer_compression'], size):
            with self._transfer_report.phase('send'):
                self._transfer_file(local_path, remote_path)
            self._transfer_report.sent(size, compressed=compresses(self._connection), path=path)
            return
        display.vvv('atomic_upload: sending %s to %s over an ssh connection without compression'
                    % (local_path, remote_path), host=self._play_context.remote_addr)
        with uncompressed(self._connection), self._transfer_report.phase('send'):
            self._transfer_file(local_path, remote_path)
        self._transfer_report.sent(size, compressed=False, path=path)

    def _sends_uncompressed(self, setting, size):
        if setting == 'connection' or not applies_to(self._connection):
            return False
        return setting == 'off' or size >= UNCOMPRESSED_FROM_BYTES

    def _finish(self, result, args, local_path, diff_before):
        """Drop the phases' internal keys; add ``diff`` from the probe's view of the old file."""
        _drop_internal_keys(result)
        if self._task.diff and diff_before is not None and not result.get('failed'):
            diff = dict(before_header=args['dest'], after_header=args['src'] or 'dynamically generated content')
            diff.update(_diff_side('before', 'dst', diff_before))
            diff.update(_diff_side('after', 'src', read_for_diff(local_path, C.MAX_FILE_SIZE_FOR_DIFF)))
            result['diff'] = diff
        return result

    def _upload_set(self, args, sources, task_vars):
        """Publish ``sources`` (``[(relative path, path)]``) as one set: probe, one archive, publish."""
        readable = {}
        try:
            files = []
            for relative, path in sources:
                readable[relative] = self._loader.get_real_file(path, decrypt=args['decrypt'])
                sha256, size = self._transfer_report.timed('hash', sha256_of_path)(os.path.realpath(readable[relative]))
                files.append(dict(path=relative, size=size, sha256=sha256))
            return self._publish_set(args, task_vars, files, readable)
        finally:
            for relative, path in sources:
                if relative in readable and readable[relative] != path:
                    self._loader.cleanup_tmp_file(readable[relative])

    def _publish_set(self, args, task_vars, files, readable):
        direct = not self._play_context.become
        common = dict(files=files, producer=self._producer())
        if not self._task.check_mode and sum(item['size'] for item in files) <= INLINE_UP_TO_BYTES:
            result = self._inline_set(args, task_vars, common, readable)
            diff = result.pop(DIFF, None)
        else:
            probe = self._run_phase(args, task_vars, PROBE_SET, direct=direct, **common)
            diff = probe.pop(DIFF, None)
            if not probe.get('failed') and probe.get(ACTION) == ACTION_TRANSFER and not self._task.check_mode:
                result = self._send_and_publish(args, task_vars, probe, readable, common)
            else:
                result = probe
        _drop_internal_keys(result)
        if not result.get('failed'):
            # AnsibleModule.exit_json adds dest's stat to the result, and for a directory dest
            # its "size" is the directory's; the set's size is the sum of its files.
            result['size'] = sum(item['size'] for item in files)
        if self._task.diff and diff is not None and not result.get('failed'):
            result['diff'] = diff
        return result

    def _inline_set(self, args, task_vars, common, readable):
        """One module run that carries every file of the set, probes it and publishes the files that changed."""
        data = _archive_bytes([(item['path'], readable[item['path']], item['size']) for item in common['files']])
        self._transfer_report.sent(len(data), compresses(self._connection), INLINE)
        return self._run_phase(args, task_vars, INLINE_SET, inline=encode_inline(data), **common)

    def _send_and_publish(self, args, task_vars, probe, readable, common):
        changed = probe[FILES_CHANGED]
        sizes = {item['path']: item['size'] for item in common['files']}
        archive = _build_archive([(relative, readable[relative], sizes[relative]) for relative in changed])
        try:
            staging_path = probe.get(STAGING_PATH)
            if staging_path:
                self._send_direct(args, task_vars, archive, staging_path, dict(common, phase=ABORT_SET))
            else:
                staging_path = self._send_via_remote_tmp(args, archive, 'atomic_upload.tar')
        finally:
            os.unlink(archive)
        self._stop_if_cancelled(args, task_vars, staging_path, dict(common, phase=ABORT_SET))
        publish = self._run_phase(args, task_vars, PUBLISH_SET, direct=bool(probe.get(STAGING_PATH)),
                                  staged_path=staging_path, changed=changed, **common)
        return with_probe_findings(publish, probe)

    def _upload_files(self, args, task_vars):
        """A list of files, each to its own dest: hash all, one probe, one archive of the changed, one publish.

        A directory item stands for every regular file below it. Every dest and
        marker is checked to be the list's own before any file is hashed.
        """
        items = self._expanded_items(args['files'])
        _check_distinct_dests(items)
        _check_distinct_markers(items, args)
        if not items:
            return dict(changed=False, files=[], files_changed=[], action='none',
                        msg='the directories of files hold no files; there was nothing to publish')
        local_paths, cleanups = [], []
        try:
            entries = []
            for item in items:
                local_path, cleanup = self._listed_source(args, item)
                local_paths.append(local_path)
                if cleanup is not None:
                    cleanups.append(cleanup)
                sha256, size = self._transfer_report.timed('hash', sha256_of_path)(local_path)
                entries.append(_file_entry(args, item, sha256, size))
            return self._publish_files(args, task_vars, entries, local_paths)
        finally:
            for cleanup in cleanups:
                cleanup()

    def _expanded_items(self, items):
        """The ``files`` items, each ``src`` found on the controller and each directory item replaced by one item per
        regular file below it (``dest`` + its relative path, in sorted order); ``label`` names where each came from."""
        expanded = []
        for number, item in enumerate(items, 1):
            label = str(number)
            if item['src'] is None:
                expanded.append(dict(item, label=label))
                continue
            found = self._find_source(item['src'])
            if not os.path.isdir(found):
                _check_listed_file('%d (%s)' % (number, item['src']), found)
                expanded.append(dict(item, src=found, label=label))
                continue
            if item['marker_path'] is not None:
                raise AnsibleActionFail('files item %d (%s) is a directory, and marker_path names one file; each file '
                                        'below it gets a marker of its own. Remove marker_path (state_dir relocates '
                                        'the markers of every file)' % (number, found))
            self._check_dest_outside_src(found, item['dest'])
            top = item['dest'].rstrip('/') or '/'
            for relative, path in _regular_files_below(found):
                expanded.append(dict(item, src=path, dest=os.path.join(top, relative),
                                     label='%d (%s of directory %s)' % (number, relative, found)))
        return expanded

    def _listed_source(self, args, item):
        """``(path on the controller, what removes it afterwards or None)`` of the expanded ``files`` item ``item``."""
        if item['src'] is None:
            path, dummy = self._local_source(dict(content=item['content'], decrypt=args['decrypt']), None)
            return path, lambda: os.unlink(path)
        real = self._loader.get_real_file(item['src'], decrypt=args['decrypt'])
        return os.path.realpath(real), (lambda: self._loader.cleanup_tmp_file(real)) if real != item['src'] else None

    def _publish_files(self, args, task_vars, entries, local_paths):
        common = dict(files=entries, producer=self._producer(), host=task_vars.get('inventory_hostname'))
        inline = not self._task.check_mode and sum(entry['size'] for entry in entries) <= INLINE_UP_TO_BYTES
        if inline:
            probe = self._inline_files(args, task_vars, common, local_paths)
        else:
            probe = self._run_phase(args, task_vars, PROBE_FILES, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF, **common)
        if probe.get('failed'):
            return probe
        results = probe[FILES]
        diffs = [_file_diff(entry, local_path, result.pop(DIFF_BEFORE, None))
                 for entry, local_path, result in zip(entries, local_paths, results)]
        changed = probe[FILES_CHANGED]
        if changed and not inline and not self._task.check_mode:
            publish = self._send_and_publish_files(args, task_vars, common, changed, local_paths)
            if publish.get('failed'):
                return publish
            for name in changed:
                results[int(name)] = with_probe_findings(publish[FILES][int(name)], results[int(name)])
        for result in results:
            _drop_internal_keys(result)
        result = _files_result(results)
        if changed and not self._task.check_mode:
            result['transfer_path'] = INLINE if inline else 'staged'
        if self._task.diff and diffs and not result.get('failed'):
            result['diff'] = [diff for diff in diffs if diff is not None]
        return result

    def _inline_files(self, args, task_vars, common, local_paths):
        """One module run that carries every file of the list, probes each and publishes those that changed."""
        data = _archive_bytes([(str(number), path, entry['size'])
                               for number, (path, entry) in enumerate(zip(local_paths, common['files']))])
        self._transfer_report.sent(len(data), compresses(self._connection), INLINE)
        return self._run_phase(args, task_vars, INLINE_FILES, inline=encode_inline(data),
                               max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF, **common)

    def _send_and_publish_files(self, args, task_vars, common, changed, local_paths):
        archive = _build_archive([(name, local_paths[int(name)], common['files'][int(name)]['size'])
                                  for name in changed])
        try:
            staging_path = self._send_via_remote_tmp(args, archive, 'atomic_upload.tar')
        finally:
            os.unlink(archive)
        if self._worker_parent.gone():
            # The archive is in the private remote temp directory, which run() removes: nothing to undo on the host.
            raise AnsibleActionFail('ansible-playbook went away (a cancelled job) after the data was sent; no dest '
                                    'was touched')
        return self._run_phase(args, task_vars, PUBLISH_FILES, staged_path=staging_path, changed=changed, **common)


_CLASS_REPR = re.compile(r"<class '(?:[\w.]+\.)?(?:_AnsibleTagged)?(\w+)'>")


def _with_type_names(msg):
    """``msg`` with Python class reprs as type names: ``str``, not ``<class '..._datatag._AnsibleTaggedStr'>``.

    ansible-core's type checks name the class of the value, and on the
    controller (2.19+) task values are private tagged subclasses.
    """
    return _CLASS_REPR.sub(lambda match: match.group(1).lower(), msg)


def _inside(path, directory):
    """True when ``path`` is ``directory`` or below it (both resolved)."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _digest_if_done(hashing, size, local_path):
    """The source's sha256 when its hash has finished, else None: the probe asks for it when it must."""
    return _digest_of(hashing, size, local_path) if hashing.done() else None


def _digest_of(hashing, size, local_path):
    """The source's sha256, once hashed; fails when the file changed size while it was read."""
    digest, hashed_size = hashing.result()
    if hashed_size != size:
        raise AnsibleActionFail('src %s changed while it was read (%d bytes, then %d); nothing was published. '
                                'Upload a file nothing writes to, or a copy of it' % (local_path, size, hashed_size))
    return digest


def _with_checksum(result, hashing, size, local_path):
    """A probe's final result, naming the source's sha256 even when the probe ran before the hash ended."""
    if result.get(SHA256, '') is None:
        result[SHA256] = _digest_of(hashing, size, local_path)
    return result


def _drop_internal_keys(result):
    """Remove the result keys meant for this plugin only, before the task's result is shown."""
    for key in INTERNAL_RESPONSE_KEYS:
        result.pop(key, None)


def _file_entry(args, item, sha256, size):
    """One file of the request: the item's own options, else the task's mode, owner and group."""
    entry = dict(dest=item['dest'], sha256=sha256, size=size, marker_path=item['marker_path'],
                 lock_path=item['lock_path'])
    for option in ('mode', 'owner', 'group'):
        entry[option] = item[option] if item[option] is not None else args[option]
    if entry['mode'] is not None and not isinstance(entry['mode'], int):
        entry['mode'] = str(entry['mode'])
    return entry


def _check_distinct_dests(items):
    """Two items with one dest would publish twice to the same file: refuse, naming both."""
    seen = {}
    for item in items:
        dest = os.path.normpath(item['dest'])
        if dest in seen:
            raise AnsibleActionFail('files items %s and %s have the same dest %s; each file of the list needs a dest of '
                                    'its own' % (seen[dest], item['label'], item['dest']))
        seen[dest] = item['label']


def _check_distinct_markers(items, args):
    """Two files with one marker (an absolute state_dir and two files of one name): the second would replace the
    first's marker, which would never look complete again. Refuse, naming both dests and the fix."""
    if not args['marker']:
        return
    seen = {}
    for item in items:
        marker = os.path.normpath(item['marker_path'] or default_marker_path(item['dest'], args['state_dir']))
        if marker in seen:
            raise AnsibleActionFail(
                '%s and %s would share the marker %s; each file needs a marker of its own. Give them different '
                'names, a relative state_dir (such as .handoff, a state directory beside each file) or a marker_path '
                'each. Nothing was published' % (seen[marker], item['dest'], marker))
        seen[marker] = item['dest']


def _file_diff(entry, local_path, before):
    """The diff of one file of a list from the probe's view of its old content, or None without one."""
    if before is None:
        return None
    diff = dict(before_header=entry['dest'], after_header=entry['dest'])
    diff.update(_diff_side('before', 'dst', before))
    diff.update(_diff_side('after', 'src', read_for_diff(local_path, C.MAX_FILE_SIZE_FOR_DIFF)))
    return diff


def _files_result(results):
    """The task's result for a list of files: theirs, and a failure naming each file that failed."""
    failed = [result for result in results if result.get('failed')]
    result = dict(changed=any(item.get('changed') for item in results), files=results,
                  files_changed=[item['dest'] for item in results if item.get(ACTION) == ACTION_TRANSFER],
                  action=ACTION_TRANSFER if any(item.get(ACTION) == ACTION_TRANSFER for item in results) else
                  'marker' if any(item.get(ACTION) == 'marker' for item in results) else
                  'attributes' if any(item.get(ACTION) == 'attributes' for item in results) else 'none')
    created = [directory for item in results for directory in item.get(CREATED_DIRECTORIES, [])]
    if created:
        result['created_directories'] = sorted(set(created))
    if failed:
        result['failed'] = True
        result['msg'] = '%d of %d files failed: %s' % (len(failed), len(results), '; '.join(
            '%s: %s' % (item['dest'], item['msg']) for item in failed))
    return result


def _listed_files(items, found):
    """``[(base name, path)]`` of a list ``src``, sorted; refuses what is not a file and names that collide."""
    by_name = {}
    for item, path in zip(items, found):
        _check_listed_file(item, path)
        name = os.path.basename(path)
        if name in by_name:
            raise AnsibleActionFail('src items %s and %s have the same base name %s; a list src puts each file at its '
                                    'base name below dest, so one would overwrite the other. Rename one, or publish '
                                    'them with separate tasks' % (by_name[name][0], item, name))
        by_name[name] = (item, path)
    return sorted((name, path) for name, (dummy, path) in by_name.items())


def _check_listed_file(item, path):
    """Fail unless the list item ``item``, found at ``path``, is (or links to) a regular file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise AnsibleActionFail('src item %s (%s) cannot be read (%s; a dangling symlink?); fix it or remove it from '
                                'the list' % (item, path, exc.strerror))
    if stat.S_ISDIR(st.st_mode):
        raise AnsibleActionFail('src item %s (%s) is a directory; a list src holds files only (give a directory as src '
                                'on its own to publish its tree)' % (item, path))
    if not stat.S_ISREG(st.st_mode):
        raise AnsibleActionFail('src item %s (%s) is not a regular file (a FIFO, socket or device); remove it from '
                                'the list' % (item, path))


def _files_below(top):
    """``[(relative path with /, path)]`` of every file below ``top``, sorted; refuses what a set cannot hold.

    Symlinks to files are followed (their content is published), as
    ``ansible.builtin.copy`` does by default; a symlink to a directory, a
    dangling symlink or a special file fails the task instead of being skipped.
    """
    found = []
    for directory, subdirectories, names in os.walk(top):
        subdirectories.sort()
        for name in subdirectories:
            if os.path.islink(os.path.join(directory, name)):
                raise AnsibleActionFail('src %s holds %s, a symlink to a directory; atomic_upload publishes the '
                                        'files of a directory tree and does not follow directory links. Replace '
                                        'it with a directory or remove it' % (top, os.path.join(directory, name)))
        for name in sorted(names):
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                raise AnsibleActionFail('src %s holds %s, which cannot be read (%s; a dangling symlink?); '
                                        'fix or remove it' % (top, path, exc.strerror))
            if not stat.S_ISREG(st.st_mode):
                raise AnsibleActionFail('src %s holds %s, which is not a regular file (a FIFO, socket or device); '
                                        'remove it from the directory' % (top, path))
            found.append((os.path.relpath(path, top).replace(os.sep, '/'), path))
    return sorted(found)


def _regular_files_below(top):
    """``[(relative path with /, path)]`` of every regular file below ``top``, sorted.

    Symlinks are not followed and not published (a link to a directory is
    not entered), nor are FIFOs, sockets and devices: each one skipped is
    named in a warning. Hidden files are published like any other.
    """
    found, skipped = [], []
    for directory, subdirectories, names in os.walk(top):
        subdirectories.sort()
        for name in sorted(names) + [name for name in subdirectories if os.path.islink(os.path.join(directory, name))]:
            path = os.path.join(directory, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append((os.path.relpath(path, top).replace(os.sep, '/'), path))
            else:
                skipped.append(path)
    if skipped:
        display.warning('atomic_upload: %s holds %d entries that are not regular files (symlinks are not followed); '
                        'they were not published: %s' % (top, len(skipped), ', '.join(sorted(skipped))))
    return sorted(found)


def _build_archive(members):
    """An uncompressed tar of ``[(relative path, local path, size)]`` in a controller temp file; return its path.

    Headers carry only names and sizes (mode 0600, no owner, no time): the
    target takes attributes from the task, never from the archive.
    """
    fd, path = tempfile.mkstemp(dir=C.DEFAULT_LOCAL_TMP, suffix='.tar')
    try:
        with os.fdopen(fd, 'wb') as handle, tarfile.open(fileobj=handle, mode='w', format=tarfile.PAX_FORMAT) as tar:
            for relative, local_path, size in members:
                info = tarfile.TarInfo(relative)
                info.size = size
                info.mode = 0o600
                with open(local_path, 'rb') as source:
                    tar.addfile(info, source)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _archive_bytes(members):
    """The bytes of ``_build_archive(members)``, for an inline phase (small by INLINE_UP_TO_BYTES)."""
    archive = _build_archive(members)
    try:
        with open(archive, 'rb') as handle:
            return handle.read()
    finally:
        os.unlink(archive)
