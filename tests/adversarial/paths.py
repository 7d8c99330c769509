# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The write paths the attacker races, each driven the way its real caller drives it.

A path prepares every trial's files before the racer starts (so only the
task's own names are raced), runs one trial with the real target-side code,
and, when the task reports success, says what is wrong with the result: a
success must leave exactly the producer's bytes, in a file the task made, with
a marker that describes them.
"""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import secrets
import stat
import tarfile
import threading
import time
from pathlib import Path

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import INLINE_OPTION, encode_inline
from tests.support.upload_request import upload_module_args

from .arena import parse_marker
from .attacker import USER
from .targets import Run, run_handoff_sh, run_module

# How long the simulated controller may block writing into the probe's temp (a FIFO blocks for ever).
CONTROLLER_WRITE_TIMEOUT = 5.0
PAYLOAD_SIZE = 4096
PRODUCER = 'lockstep.handoff adversarial suite'


def payload_of(trial):
    """The trial's bytes: distinct per trial, never containing a canary."""
    seed = hashlib.sha256(trial.encode()).digest()
    return (seed * (PAYLOAD_SIZE // len(seed) + 1))[:PAYLOAD_SIZE]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def write_file(path, data, mode=0o644):
    """A root-owned file with ``data`` and exactly ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def write_source_with_marker(path, data, mode=0o644):
    """A producer's finished file in the inbox: the data, then its complete protocol v1 marker."""
    write_file(path, data, mode)
    marker = Marker.complete(sha256_hex(data), len(data), PRODUCER, 1)
    write_file(str(path) + '.done', marker.to_bytes(), 0o644)


def planted_at_dest(dest, trial):
    """Every fourth trial, the attacker plants dest and its marker before the task runs: a symlink to the
    canary and a FIFO, one way round or the other. The task must replace them, or fail."""
    number = int(trial[1:])
    if number % 4 != 3:
        return []
    kinds = ('symlink', 'fifo') if number % 8 == 3 else ('fifo', 'symlink')
    return ['%s=%s' % (dest, kinds[0]), '%s.done=%s' % (dest, kinds[1])]


def published_wrongly(path, data, attacker_uid):
    """What is wrong with ``path`` as the result of publishing ``data`` (empty when it is right)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ['wrong_result:%s_missing' % os.path.basename(path)]
    if not stat.S_ISREG(st.st_mode):
        return ['wrong_result:%s_not_a_regular_file' % os.path.basename(path)]
    if st.st_uid == attacker_uid:
        return ['foreign_file_published:%s' % os.path.basename(path)]
    if Path(path).read_bytes() != data:
        return ['wrong_result:%s_other_bytes' % os.path.basename(path)]
    return []


def marker_wrongly(path, data):
    """What is wrong with ``path`` as the marker of ``data`` (a consumer would accept what it describes)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ['wrong_result:marker_missing']
    if not stat.S_ISREG(st.st_mode):
        return ['wrong_result:marker_not_a_regular_file']
    doc = parse_marker(path)
    if doc is None or doc.get('state') != 'complete' or doc.get('sha256') != sha256_hex(data):
        return ['marker_not_describing_data']
    return []


def write_by_name(path, data):
    """The controller's direct transfer as sftp does it: open the name for writing, following links.

    Returns None, an OSError, or ``'hung'`` when the open blocked (a FIFO) past the timeout; the FIFO is
    then opened for reading here so that the writer thread ends.
    """
    outcome = []

    def write():
        try:
            with open(path, 'wb') as handle:
                handle.write(data)
        except OSError as exc:
            outcome.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(CONTROLLER_WRITE_TIMEOUT)
    if writer.is_alive():
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        writer.join(CONTROLLER_WRITE_TIMEOUT)
        os.close(reader)
        return 'hung'
    return outcome[0] if outcome else None


class RacedPath:
    """One write path; subclasses say how to prepare, run and judge a trial."""

    name = None
    cross_device = False
    mode = 'cycle'
    on = ()
    # Trials that mostly wait (not compute) run side by side; each has its own directory and canary.
    parallel_trials = 1

    def prepare(self, arena, trial):
        """Make the trial's files (as root, before the racer watches); return the racer's pre-plants."""
        return []

    def attempt(self, arena, trial):
        """Run the trial's task; return its Run."""
        raise NotImplementedError

    def wrong_success(self, arena, trial, run, attacker_uid):
        """For a task that reported success: everything wrong with what it left."""
        raise NotImplementedError

    def wrong_result(self, arena, trial, run, attacker_uid):
        """Everything wrong with what the task left that it reported as done: nothing when it failed."""
        return [] if run.failed else self.wrong_success(arena, trial, run, attacker_uid)


class _Upload(RacedPath):
    """``atomic_upload`` of one file, phases driven as the action plugin drives them."""

    on = ('temp:create,close_write', 'markertemp:create,close_write')
    direct = None

    def dest(self, arena, trial):
        return str(arena.inbox / trial / 'data.bin')

    def prepare(self, arena, trial):
        return planted_at_dest(self.dest(arena, trial), trial)

    def direct_for(self, trial):
        return self.direct

    def options(self, arena, trial):
        data = payload_of(trial)
        return dict(dest=self.dest(arena, trial), mode='0640', group='lsattack', marker=True, lock=False,
                    lock_timeout=2, _sha256=sha256_hex(data), _size=len(data), _producer=PRODUCER)

    def attempt(self, arena, trial):
        options = self.options(arena, trial)
        direct = self.direct_for(trial)
        probe = run_module('atomic_upload', upload_module_args('probe', **dict(options, _direct=direct)), arena.private)
        if probe.failed or probe.result.get('action') != 'transfer':
            return probe
        staging = probe.result.get('staging_path')
        source = self.source(arena, trial)
        if direct and staging:
            problem = write_by_name(staging, source)
            if problem == 'hung':
                return Run(dict(failed=True, msg='the controller blocked writing %s' % staging), True, probe.output)
            if problem is not None:
                abort = run_module('atomic_upload', upload_module_args('abort', **dict(
                    options, _staged_path=staging, _reason=str(problem))), arena.private)
                return Run(dict(failed=True, msg='transfer failed: %s' % problem), False, abort.output)
            staged = staging
        else:
            staged = str(arena.private / ('%s.%s' % (trial, self.name)))
            write_file(staged, source, 0o600)
        publish_args = dict(self.publish_options(options, probe), _direct=bool(direct and staging), _staged_path=staged)
        publish = run_module('atomic_upload', upload_module_args('publish', **publish_args), arena.private)
        publish.output = probe.output + publish.output
        return publish

    def source(self, arena, trial):
        return payload_of(trial)

    def publish_options(self, options, probe):
        return options

    def wrong_success(self, arena, trial, run, attacker_uid):
        dest = self.dest(arena, trial)
        return published_wrongly(dest, payload_of(trial), attacker_uid) + marker_wrongly(dest + '.done', payload_of(trial))


class UploadDirect(_Upload):
    """No become: the probe's temp may be written by the controller directly, by name."""
    name = 'upload_direct'
    direct = True


class UploadBecome(_Upload):
    """become: the bytes are staged in the connection user's private tmp and copied in by the module."""
    name = 'upload_become'
    direct = False


def tar_of(members):
    """The tar the action plugin sends: ``[(name, bytes)]``, names and sizes only, mode 0600."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _UploadSet(_Upload):
    """``atomic_upload`` of a set: probe with every file's checksum, one tar, publish. Even trials direct."""

    files = ()
    subdirectories = ()

    def dest(self, arena, trial):
        return str(arena.inbox / trial / 'set')

    def direct_for(self, trial):
        return int(trial[1:]) % 2 == 0

    def member_bytes(self, trial, relative):
        return payload_of(trial + relative)[:1000 + len(relative)]

    def prepare(self, arena, trial):
        arena.shared(trial, 'set')
        for subdirectory in self.subdirectories:
            arena.shared(trial, 'set', subdirectory)
        return []

    def options(self, arena, trial):
        files = [dict(path=relative, size=len(self.member_bytes(trial, relative)),
                      sha256=sha256_hex(self.member_bytes(trial, relative))) for relative in self.files]
        return dict(dest=self.dest(arena, trial), mode='0640', group='lsattack', marker=True, lock=False,
                    lock_timeout=2, _files=files, _producer=PRODUCER)

    def source(self, arena, trial):
        return tar_of([(relative, self.member_bytes(trial, relative)) for relative in self.files])

    def publish_options(self, options, probe):
        return dict(options, _changed=probe.result.get('files_changed', []))

    def wrong_success(self, arena, trial, run, attacker_uid):
        wrong = []
        for relative in self.files:
            wrong += published_wrongly(os.path.join(self.dest(arena, trial), relative),
                                       self.member_bytes(trial, relative), attacker_uid)
        marker = self.dest(arena, trial) + '.done'
        doc = parse_marker(marker) if not os.path.islink(marker) else None
        if doc is None or doc.get('state') != 'complete' or len(doc.get('files') or ()) != len(self.files):
            wrong.append('marker_not_describing_data')
        return wrong


class UploadDirectorySet(_UploadSet):
    name = 'upload_directory_set'
    files = ('c.txt', 'sub/a.txt', 'sub/b.txt')
    subdirectories = ('sub',)


class UploadListSet(_UploadSet):
    name = 'upload_list_set'
    files = ('a.txt', 'b.txt', 'c.txt')


class UploadDirectorySetInline(UploadDirectorySet):
    """A small set: one module run carries the tar of every file (``_inline``), probes the set and publishes it."""
    name = 'upload_directory_set_inline'

    def attempt(self, arena, trial):
        args = upload_module_args('inline', **self.options(arena, trial))
        args[INLINE_OPTION] = encode_inline(self.source(arena, trial))
        return run_module('atomic_upload', args, arena.private)


class _UploadFiles(RacedPath):
    """``atomic_upload`` with ``files``: three files, each to its own dest in the trial's shared directories, two with
    their marker beside them and one with a marker_path in a shared state directory. In some trials the first file
    is already there with its bytes and marker: root's own (left as it is, the others published), or (the same
    bytes, the same marker) a copy of the attacker's, which must be replaced, never marked or chowned."""

    on = ('temp:create,close_write', 'markertemp:create,close_write')
    dests = ('a/one.conf', 'b/two.bin', 'three.txt')
    marker_paths = {'three.txt': 'state/three.txt.done'}

    def dest(self, arena, trial, relative):
        return str(arena.inbox / trial / relative)

    def marker(self, arena, trial, relative):
        return str(arena.inbox / trial / self.marker_paths.get(relative, relative + '.done'))

    def member_bytes(self, trial, relative):
        return payload_of(trial + relative)[:1500 + 500 * len(relative)]

    def prepare(self, arena, trial):
        for directory in ('a', 'b', 'state'):
            arena.shared(trial, directory)
        planted = []
        for relative in self.dests:
            planted += planted_at_dest(self.dest(arena, trial, relative), trial)
        if int(trial[1:]) % 4 == 1:
            self.place_first(arena, trial, attackers=int(trial[1:]) % 8 == 5)
        return planted

    def place_first(self, arena, trial, attackers):
        """The first file and its marker, as a run before this one left them (0640 root:GROUP), or the attacker's."""
        dest = self.dest(arena, trial, self.dests[0])
        write_source_with_marker(dest, self.member_bytes(trial, self.dests[0]), 0o640)
        owner = pwd.getpwnam(USER).pw_uid if attackers else 0
        for path in (dest, dest + '.done'):
            os.chown(path, owner, arena.gid)
            os.chmod(path, 0o640)

    def entries(self, arena, trial):
        entries = []
        for relative in self.dests:
            data = self.member_bytes(trial, relative)
            marker_path = self.marker(arena, trial, relative) if relative in self.marker_paths else None
            entries.append(dict(dest=self.dest(arena, trial, relative), sha256=sha256_hex(data), size=len(data),
                                mode='0640', owner=None, group='lsattack', marker_path=marker_path, lock_path=None))
        return entries

    def options(self, arena, trial):
        return dict(marker=True, lock=False, lock_timeout=2, _files=self.entries(arena, trial), _producer=PRODUCER)

    def tar_of(self, trial, names):
        """The tar of the files ``names`` (their indexes, as strings) holds."""
        return tar_of([(name, self.member_bytes(trial, self.dests[int(name)])) for name in names])

    def as_task(self, run):
        """The module's result as the action plugin makes it the task's: failed when a file failed, naming each."""
        failed = [item for item in run.result.get('files') or () if item.get('failed')]
        if run.failed or not failed:
            return run
        result = dict(run.result, failed=True, msg='%d of %d files failed: %s' % (len(failed), len(self.dests), '; '.join(
            '%s: %s' % (item.get('dest'), item.get('msg')) for item in failed)))
        if not all(item.get('msg') for item in failed):
            result['crashed'] = True
        return Run(result, run.hung, run.output)

    def wrong_result(self, arena, trial, run, attacker_uid):
        """Every file the module reported done (the others may fail, alone) must be exactly right."""
        wrong = []
        items = run.result.get('files') or ()
        for relative, item in zip(self.dests, items):
            if item.get('failed'):
                continue
            data = self.member_bytes(trial, relative)
            wrong += published_wrongly(self.dest(arena, trial, relative), data, attacker_uid)
            wrong += marker_wrongly(self.marker(arena, trial, relative), data)
        if not run.failed and len(items) != len(self.dests):
            wrong.append('wrong_result:%d_results_for_%d_files' % (len(items), len(self.dests)))
        return wrong


class UploadFilesInline(_UploadFiles):
    """A small list: one module run carries the tar of every file (``_inline``), probes each and publishes them."""
    name = 'upload_files_inline'

    def attempt(self, arena, trial):
        args = upload_module_args('inline_files', **self.options(arena, trial))
        args[INLINE_OPTION] = encode_inline(self.tar_of(trial, map(str, range(len(self.dests)))))
        return self.as_task(run_module('atomic_upload', args, arena.private))


class UploadFilesStaged(_UploadFiles):
    """A larger list: probe every file, the tar of those changed staged in the connection user's private tmp, publish."""
    name = 'upload_files_staged'

    def attempt(self, arena, trial):
        options = self.options(arena, trial)
        probe = run_module('atomic_upload', upload_module_args('probe_files', **options), arena.private)
        changed = probe.result.get('files_changed') or []
        if probe.failed or not changed:
            return self.as_task(probe)
        staged = str(arena.private / ('%s.%s.tar' % (trial, self.name)))
        write_file(staged, self.tar_of(trial, changed), 0o600)
        publish = run_module('atomic_upload', upload_module_args(
            'publish_files', **dict(options, _staged_path=staged, _changed=changed)), arena.private)
        if publish.failed:
            return publish
        # As the action plugin does: each file's probe result, replaced by its publish result when it was sent.
        files = list(probe.result['files'])
        for name in changed:
            files[int(name)] = publish.result['files'][int(name)]
        return self.as_task(Run(dict(publish.result, files=files), False, probe.output + publish.output))


class _Move(RacedPath):
    """``locked_move`` of a producer's finished file."""

    source_mode = 0o644
    extra = {}

    def src(self, arena, trial):
        return str(arena.inbox / trial / 'data.bin')

    def dest(self, arena, trial):
        return str(arena.inbox / trial / 'out' / 'data.bin')

    def prepare(self, arena, trial):
        write_source_with_marker(self.src(arena, trial), payload_of(trial), self.source_mode)
        os.chmod(self.src(arena, trial), self.source_mode)
        arena.shared(trial, 'out')
        return []

    def options(self, arena, trial):
        return dict(src=self.src(arena, trial), dest=self.dest(arena, trial), lock_timeout=2, **self.extra)

    def attempt(self, arena, trial):
        return run_module('locked_move', self.options(arena, trial), arena.private)

    def wrong_success(self, arena, trial, run, attacker_uid):
        return published_wrongly(self.dest(arena, trial), payload_of(trial), attacker_uid)


class MoveCrossDevice(_Move):
    """Across filesystems: copy to a temp beside dest (in a shared directory on a tmpfs), chmod, rename. The source is
    setuid and world-writable (4777), the mode the temp then gets."""
    name = 'move_cross_device'
    cross_device = True
    source_mode = 0o4777
    on = ('temp:create,close_write', 'markertemp:create,close_write')

    def dest(self, arena, trial):
        return str(arena.xdev / trial / 'data.bin')

    def prepare(self, arena, trial):
        write_source_with_marker(self.src(arena, trial), payload_of(trial), 0o644)
        os.chmod(self.src(arena, trial), self.source_mode)
        return planted_at_dest(self.dest(arena, trial), trial)


class MoveMarker(_Move):
    """marker=move. Even trials: the default require_marker, the marker swapped right after it is read. Odd
    trials: require_marker=false and a marker planted beforehand as a symlink to the canary or a FIFO."""
    name = 'move_marker'
    on = ('marker:close_nowrite', 'markertemp:create,close_write')

    def prepare(self, arena, trial):
        number = int(trial[1:])
        if number % 2 == 0:
            return super().prepare(arena, trial)
        write_file(self.src(arena, trial), payload_of(trial))
        arena.shared(trial, 'out')
        return ['%s.done=%s' % (self.src(arena, trial), 'symlink' if number % 4 == 1 else 'fifo')]

    def options(self, arena, trial):
        options = dict(super().options(arena, trial), marker='move')
        if int(trial[1:]) % 2:
            options['require_marker'] = False
        return options

    def wrong_success(self, arena, trial, run, attacker_uid):
        wrong = super().wrong_success(arena, trial, run, attacker_uid)
        dest_marker = self.dest(arena, trial) + '.done'
        if os.path.lexists(dest_marker):
            wrong += marker_wrongly(dest_marker, payload_of(trial))
        return wrong


class MoveSwappedData(_Move):
    """The consumer's check: the data file is swapped (FIFO, symlink, other bytes) right after its marker is read."""
    name = 'move_swapped_data'
    on = ('markerdata:close_nowrite',)


PREVIOUS = b'the version a promotion replaced\n'


def kept_wrongly(path, data, attacker_uid):
    """What is wrong with ``path`` as a kept or restored version holding ``data``: the task's own regular file with
    one link, no attacker's inode."""
    wrong = published_wrongly(path, data, attacker_uid)
    if not wrong and os.lstat(path).st_nlink != 1:
        wrong.append('wrong_result:%s_linked_elsewhere' % os.path.basename(path))
    return wrong


def record_wrongly(path, data_path, attacker_uid):
    """What is wrong with the rollback record ``path`` beside ``data_path``: theirs, or wider than the data."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ['wrong_result:rollback_record_missing']
    if not stat.S_ISREG(st.st_mode) or st.st_uid == attacker_uid:
        return ['foreign_file_published:rollback_record']
    if stat.S_IMODE(st.st_mode) & ~stat.S_IMODE(os.lstat(data_path).st_mode):
        return ['marker_wider_than_data:rollback_record']
    return []


class MoveKeepPrevious(_Move):
    """``keep_previous`` onto an existing dest in the shared directory: the kept copy's temp
    (``..NAME.prev-1.<12hex>.tmp``) and the moved marker's temp are swapped as they are written."""
    name = 'move_keep_previous'
    on = ('temp:create,close_write', 'markertemp:create,close_write')
    extra = dict(keep_previous=2)

    def prepare(self, arena, trial):
        planted = super().prepare(arena, trial)
        write_file(self.dest(arena, trial), PREVIOUS, 0o640)
        return planted

    def wrong_success(self, arena, trial, run, attacker_uid):
        kept = os.path.join(os.path.dirname(self.dest(arena, trial)), '.data.bin.prev-1')
        return super().wrong_success(arena, trial, run, attacker_uid) + kept_wrongly(kept, PREVIOUS, attacker_uid)


class MoveRollback(_Move):
    """``rollback: true`` in the shared directory: the rollback record's temp is swapped as it is written, and
    (odd trials) a record of the attacker's naming the present version as restored is planted beforehand."""
    name = 'move_rollback'
    on = ('temp:create,close_write',)

    def prepare(self, arena, trial):
        arena.shared(trial, 'out')
        dest = self.dest(arena, trial)
        write_file(dest, payload_of(trial), 0o640)
        write_file(os.path.join(os.path.dirname(dest), '.data.bin.prev-1'), PREVIOUS, 0o640)
        if int(trial[1:]) % 2:
            record = os.path.join(os.path.dirname(dest), '.data.bin.rolled-back')
            write_file(record, ('{"replaced": "x", "restored": "%s"}' % sha256_hex(payload_of(trial))).encode(), 0o666)
            os.chown(record, pwd.getpwnam(USER).pw_uid, arena.gid)
        return []

    def options(self, arena, trial):
        return dict(dest=self.dest(arena, trial), rollback=True, lock_timeout=2)

    def wrong_success(self, arena, trial, run, attacker_uid):
        dest = self.dest(arena, trial)
        record = os.path.join(os.path.dirname(dest), '.data.bin.rolled-back')
        return kept_wrongly(dest, PREVIOUS, attacker_uid) + record_wrongly(record, dest, attacker_uid)


class WaitForMarker(_Move):
    """``wait_for_marker`` on a data file that is a FIFO: planted beforehand (even trials), or (odd trials) exchanged
    with a FIFO back and forth from the moment the producer starts writing the marker, so that a look's lstat and
    its open see different files. It must not hang; it must never report the FIFO ready."""
    name = 'wait_for_marker'
    mode = 'flip'
    on = ('markerdata:create',)
    parallel_trials = 4

    def prepare(self, arena, trial):
        if int(trial[1:]) % 2:
            write_file(self.src(arena, trial), payload_of(trial))
            return []
        marker = Marker.complete(sha256_hex(payload_of(trial)), PAYLOAD_SIZE, PRODUCER, 1)
        write_file(self.src(arena, trial) + '.done', marker.to_bytes())
        return ['%s=fifo' % self.src(arena, trial)]

    def attempt(self, arena, trial):
        done = []
        waiter = threading.Thread(target=lambda: done.append(run_module(
            'wait_for_marker', dict(path=self.src(arena, trial), timeout=2, sleep=0.2), arena.private)))
        waiter.start()
        if int(trial[1:]) % 2:
            time.sleep(0.3)
            self.publish_marker(arena, trial)
        waiter.join()
        return done[0]

    def publish_marker(self, arena, trial):
        """The producer's last step, as the modules take it: marker temp, a moment, rename."""
        marker = Marker.complete(sha256_hex(payload_of(trial)), PAYLOAD_SIZE, PRODUCER, 1)
        temp = str(arena.inbox / trial / ('.data.bin.done.%s.tmp' % secrets.token_hex(6)))
        write_file(temp, marker.to_bytes())
        time.sleep(0.05)
        os.rename(temp, self.src(arena, trial) + '.done')

    def wrong_success(self, arena, trial, run, attacker_uid):
        if int(trial[1:]) % 2 == 0:
            return ['accepted_foreign:a FIFO reported ready']
        return []


class HandoffPublish(RacedPath):
    """``handoff.sh publish SRC DEST`` as root."""
    name = 'handoff_publish'
    on = ('temp:create,close_write', 'markertemp:create,close_write')

    def prepare(self, arena, trial):
        write_file(arena.private / trial, payload_of(trial), 0o600)
        return planted_at_dest(self.dest(arena, trial), trial)

    def dest(self, arena, trial):
        return str(arena.inbox / trial / 'data.bin')

    def attempt(self, arena, trial):
        return run_handoff_sh(['publish', arena.private / trial, self.dest(arena, trial)], arena.private)

    def wrong_success(self, arena, trial, run, attacker_uid):
        dest = self.dest(arena, trial)
        return published_wrongly(dest, payload_of(trial), attacker_uid) + marker_wrongly(dest + '.done', payload_of(trial))


class HandoffMove(MoveCrossDevice):
    """``handoff.sh move SRC DEST`` as root, across filesystems (copy to a temp beside dest)."""
    name = 'handoff_move'

    def attempt(self, arena, trial):
        return run_handoff_sh(['move', self.src(arena, trial), self.dest(arena, trial)], arena.private)


PATHS = {path.name: path for path in (UploadDirect(), UploadBecome(), UploadDirectorySet(), UploadListSet(),
                                      UploadDirectorySetInline(), UploadFilesInline(), UploadFilesStaged(),
                                      MoveCrossDevice(), MoveMarker(), MoveSwappedData(), MoveKeepPrevious(),
                                      MoveRollback(), WaitForMarker(),
                                      HandoffPublish(), HandoffMove())}
