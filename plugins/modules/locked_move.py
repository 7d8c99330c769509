#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: locked_move
short_description: Move a marked file into place exactly once, holding a lock that flock(1) honours
version_added: 0.1.0
description:
  - Takes the lock O(lock_path) (waiting up to O(lock_timeout)), judges the source's marker again under the lock
    (complete, size and sha256 match), moves O(src) onto O(dest), then removes, moves or keeps the marker, and
    releases the lock.
  - On one filesystem the move is a rename(2) followed by fsyncs of the directories. Across filesystems the file
    is copied to a temp file beside O(dest) (hashing while copying and checking the marker's sha256), fsynced,
    renamed onto O(dest), and only then is O(src) unlinked. A crash at any point leaves O(src), or a complete O(dest),
    never a partial one. The copy takes O(src)'s permission bits only (never setuid, setgid or sticky). A source
    owned by another user that O(owner) gives to someone else is copied the same way on one filesystem too - its
    producer may still hold it open, and must not be able to change the new owner's O(dest).
  - Another user of the directories can make the move fail, never redirect it - O(src) is opened without following
    a symlink and must be the very file its marker was checked against, and every rename is checked to move the
    file judged.
  - Exactly once - a second run, or a second consumer that lost the race for the same lock, finds O(src) gone and
    O(dest) in place and reports C(changed=false). A run that finds the move done but the marker step left undone
    (a crash in between) finishes it.
  - The lock is compatible with util-linux flock(1) on the same path, so shell scripts and cron jobs doing
    C(flock /srv/in/x.lock mv ...) and this module exclude each other.
  - With O(files), a list of moves is made in one module run - each file by the same logic, under its own lock, with
    a result of its own. With O(wait) the run first waits for the markers (inotify, one O(timeout) for the whole list)
    and moves each file as soon as its marker says it is ready, so a rollout of many files costs one module run per
    host instead of a wait and a move per file.
author:
  - Lockstep maintainers (@lockstep)
extends_documentation_fragment:
  - ansible.builtin.files
  - lockstep.handoff._attributes
  - lockstep.handoff._attributes.files
  - lockstep.handoff.lock
  - lockstep.handoff.marker_check
  - lockstep.handoff.redis
  - lockstep.handoff.state_dir
attributes:
  check_mode:
    support: full
    details:
      - In check mode the lock is not taken (that would create the lock file), so nothing is waited for; the verdict is
        made without it.
      - In check mode a source that does not exist yet or has no marker describing it yet is reported in RV(msg) with
        C(ok) rather than failing (its producer changed nothing in check mode either); a C(failed) marker still fails.
        A destination directory that does not exist yet is reported as the real run would use it (an earlier task,
        or O(create_parents), makes it).
  diff_mode:
    support: partial
    details: Shows the path the file moves from and to, not its content.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
options:
  src:
    description:
      - The file to move, usually one a producer published with a marker. Must be a regular file.
      - Required unless O(files) is given; mutually exclusive with it.
      - Or a directory (an inbox) - then every data file in it that matches O(patterns) is judged and moved into the
        directory O(dest) in one module run, each exactly once under its own lock C(DEST/NAME.lock) (or under
        O(lock_path) for the whole batch when given). Files not ready yet, and files whose lock stays busy for
        O(lock_timeout), are left for a later run and listed in the result; hidden files, markers, locks and temp
        files are never taken as data.
      - When a manifest marker describes the directory O(src) (C(SRC.done), or O(marker_path); written by
        M(lockstep.handoff.atomic_upload) with a directory O(lockstep.handoff.atomic_upload#module:src)), the files it
        lists are judged against it (size, and sha256 with O(verify_checksum)) instead of markers of their own, and
        keep their relative paths below O(dest), subdirectories created as needed. The manifest is removed (or moved
        to O(dest_marker_path), default C(DEST.done), or kept, by O(marker)) only once none of its files is left in
        O(src); until then RV(manifest) says C(pending), and a later run finishes. A C(failed) marker there fails the
        task.
    type: path
  dest:
    description:
      - Where the file goes (the full path of the file, not a directory).
      - With a directory O(src), the directory the files go into.
      - Required with O(src).
    type: path
  files:
    description:
      - A list of files to move in one module run, instead of O(src) and O(dest).
      - Each file is moved as a task with that O(src) and O(dest) would move it - its own lock (C(DEST.lock), or in
        O(state_dir)), its marker judged again under the lock, exactly once - and the task's other options apply to
        every file. A file's own O(files[].mode), O(files[].owner), O(files[].group), O(files[].marker_path),
        O(files[].dest_marker_path) and O(files[].lock_path) win over the task's.
      - Files are taken in the order of their lock paths (sorted), whatever the order of the list, so two batches
        that share locks queue for them in the same order.
      - A file that cannot be moved (not ready, failed by its producer, lock busy for O(lock_timeout), a hostile
        entry) does not stop the others - every other file is moved, then the task fails naming each file that was
        not, with its reason. RV(results) holds every file's outcome.
      - Two files of the list may not have the same O(files[].src) or O(files[].dest).
    type: list
    elements: dict
    suboptions:
      src:
        description: The file to move (see O(src)).
        type: path
        required: true
      dest:
        description: Where it goes, the full path of the file (see O(dest)).
        type: path
        required: true
      marker_path:
        description: This file's marker, when it is not where O(state_dir) says.
        type: path
      dest_marker_path:
        description: Where O(marker=move) puts this file's marker (see O(dest_marker_path)).
        type: path
      lock_path:
        description: This file's lock, instead of the task's O(lock_path) or C(DEST.lock).
        type: path
      mode:
        description: Mode of the moved file, as O(mode) (the source's mode when unset).
        type: raw
      owner:
        description: Owner of the moved file, as O(owner).
        type: str
      group:
        description: Group of the moved file, as O(group).
        type: str
  wait:
    description:
      - With O(files), wait for each file's marker before moving it - the wait and the move in one module run.
      - The run wakes on inotify events in the directories of the files and of their markers (O(sleep) is the
        interval of the safety re-check) and moves each file as soon as its marker is complete and describes it.
      - One O(timeout) for the whole list. At the timeout each file not ready yet is tried once more under its lock,
        and one that still cannot move fails the task with the move's reason and what the wait saw last.
      - In check mode each file is looked at once - files not ready yet are reported (their C(status) in RV(results) is
        V(not_ready)), not awaited and not failed.
    type: bool
    default: false
  timeout:
    description:
      - With O(wait), seconds to wait for the markers of all O(files), counted once for the whole list. At most
        31622400 (366 days).
    type: float
    default: 300
  sleep:
    description:
      - With O(wait), seconds between two looks when no inotify event arrives; more than 0 and at most 86400.
    type: float
    default: 1
  skip_moved:
    description:
      - With O(wait), a file whose source is gone and whose destination exists was moved already (by an earlier run
        or another consumer) - it is not waited for and counts as in place (C(changed=false)).
      - Set V(false) for a consumer that starts before its producer on every cycle of the same file name - it then
        waits for a new source.
    type: bool
    default: true
  all_or_none:
    description:
      - With O(files), for configuration sets that must not mix versions - move every file, or none.
      - The run (waiting with O(wait)) moves nothing until every file is ready; then it takes the locks of all files
        (each lock once, in sorted order, so that two such batches never deadlock), judges every file again under
        them, and moves them all. When a file is not ready by the timeout, or is refused under the locks, none is
        moved and the task fails naming the files that were missing; the others are reported as V(not_moved).
      - A file found moved already counts as ready. A move that fails part way for a reason of its own (a full
        disk) leaves the files moved before it in place; RV(results) says which.
    type: bool
    default: false
  patterns:
    description:
      - With a directory O(src), the shell globs (C(fnmatch), case-sensitive) a file name must match to be taken.
    type: list
    elements: str
    default: ['*']
  require_marker:
    description:
      - Move O(src) only when its marker is complete and describes it (see O(verify_checksum)); otherwise fail
        with what is missing.
      - Set V(false) to move files that nobody marks; the move is still locked, atomic and exactly once.
    type: bool
    default: true
  marker:
    description:
      - What to do with the source's marker after the data has moved.
      - V(remove) deletes it, so that M(lockstep.handoff.wait_for_marker) with O(lockstep.handoff.wait_for_marker#module:state=absent)
        sees the file consumed.
      - V(move) puts it at O(dest_marker_path) and deletes the original - by a rename when both are on one
        filesystem, else by writing the exact bytes read, with the moved data's permission bits (without execute
        bits), owner and group. The marker is read without following a symlink and must be a regular file; one
        that no longer describes the moved data when it is read (rewritten by someone else) is left in place and
        the task fails.
      - V(keep) leaves it where it is.
    type: str
    choices: [remove, move, keep]
    default: remove
  dest_marker_path:
    description:
      - Where O(marker=move) puts the marker. Defaults to O(dest) with C(.done) appended, or C(NAME.done) in
        O(state_dir) (the state directory of O(dest)).
      - With a directory O(src), where O(marker=move) puts the set's manifest.
    type: path
  force:
    description:
      - Replace an existing O(dest), as C(mv) does. With V(false) an existing O(dest) is left alone, O(src) stays,
        and the task reports C(changed=false).
    type: bool
    default: true
  backup:
    description:
      - Keep a timestamped copy of the replaced O(dest) beside it.
      - The copy is named C(DEST.<pid>.<YYYY-MM-DD@HH:MM:SS>~) and is made only of a regular file; it gets O(dest)'s
        owner, group, mode (without setuid, setgid or sticky bits) and times. When that name exists already (another
        user may have planted it), or O(dest) is a symlink or FIFO, the task fails and O(dest) is not replaced.
    type: bool
    default: false
  keep_previous:
    description:
      - How many versions of O(dest) that moves replaced to keep, for O(rollback). V(0) keeps none.
      - Before O(dest) is replaced, a copy of it (a regular file only; its owner, group, mode without special bits
        and times) is made beside it as C(.NAME.prev-1), under the lock; older kept versions become C(.NAME.prev-2)
        and so on, and those beyond O(keep_previous) are removed. Each kept version costs a full copy of the file
        on disk.
      - Kept beside O(dest) rather than in O(state_dir), so that a rollback is one rename on the same filesystem.
      - The default keeps none, as C(mv) does; the C(lockstep.handoff.promote) role keeps one.
    type: int
    default: 0
  rollback:
    description:
      - Instead of moving, put back the newest version a move replaced (kept with O(keep_previous)) onto O(dest), or
        onto the O(files)' C(dest) (their C(src) is not used), each under the lock a move onto it takes.
      - The kept version is renamed onto O(dest) in one step (O(dest) is never missing or partial) and the next
        older kept version becomes the newest. The sha256 restored is recorded beside O(dest) (C(.NAME.rolled-back));
        a second rollback finds O(dest) matching it and reports C(changed=false) instead of going back further, and a
        rollback killed half-way is finished by the next run, never repeated. The next move onto O(dest) removes the
        record, so a rollback after it restores the version that move replaced.
      - A kept version is only restored when it is a regular file owned by this user or by the owner of O(dest).
      - Fails for a file that has no kept version.
    type: bool
    default: false
  create_parents:
    description:
      - Create missing directories of O(dest), O(lock_path) and O(dest_marker_path) (mode from the umask).
      - Each directory is made one step at a time, relative to the directory above it, as
        O(lockstep.handoff.atomic_upload#module:create_parents) makes them; a symlink on the way that another user
        could have planted fails the task naming it, and nothing is created through it.
      - Without it a missing directory fails the task with a message naming it.
    type: bool
    default: false
notes:
  - The default O(lock_path) is O(dest) with C(.lock) appended (in O(state_dir) when given). Every consumer of the same O(src) must use the same
    lock path, or two consumers moving one file to two places are not excluded from each other.
  - When the producer may publish O(src) again while it is being consumed, give M(lockstep.handoff.atomic_upload)
    the same O(lock_path) with its O(lockstep.handoff.atomic_upload#module:lock) option.
  - File attributes given to the task are applied to the moved file; options left unset keep the source's values.
seealso:
  - module: lockstep.handoff.atomic_upload
  - module: lockstep.handoff.wait_for_marker
  - name: flock(1)
    description: The util-linux command whose locks this module honours.
    link: https://man7.org/linux/man-pages/man1/flock.1.html
'''

EXAMPLES = r'''
- name: Promote a configuration file, keeping the version it replaces
  lockstep.handoff.locked_move:
    src: /srv/handoff/incoming/nginx.conf
    dest: /etc/nginx/nginx.conf
    keep_previous: 1

- name: Roll it back to that version (a re-run changes nothing)
  lockstep.handoff.locked_move:
    dest: /etc/nginx/nginx.conf
    rollback: true

- name: Wait for the upload, then move it into place exactly once
  block:
    - name: Wait for the producer's marker
      lockstep.handoff.wait_for_marker:
        path: /srv/handoff/inbox/app.tar.gz
        timeout: 600

    - name: Move it under the lock
      lockstep.handoff.locked_move:
        src: /srv/handoff/inbox/app.tar.gz
        dest: /opt/app/releases/app.tar.gz
        lock_timeout: 60
        mode: "0644"

- name: Share the lock with a cron job that runs "flock /var/lock/app.lock mv ..."
  lockstep.handoff.locked_move:
    src: /srv/handoff/inbox/app.tar.gz
    dest: /opt/app/releases/app.tar.gz
    lock_path: /var/lock/app.lock
    lock_timeout: 0   # fail at once instead of queueing behind the cron job

- name: Markers and locks in one state directory (/var/lib/handoff/app.tar.gz.done, .../app.tar.gz.lock)
  lockstep.handoff.locked_move:
    src: /srv/handoff/inbox/app.tar.gz
    dest: /opt/app/releases/app.tar.gz
    state_dir: /var/lib/handoff

- name: Keep the marker with the data, on another filesystem
  lockstep.handoff.locked_move:
    src: /srv/handoff/inbox/report.csv
    dest: /data/reports/2026-11-23.csv
    marker: move
    create_parents: true

- name: Drain the whole inbox in one task; what is not ready or busy stays for the next run
  lockstep.handoff.locked_move:
    src: /srv/handoff/inbox
    dest: /srv/app/import
    patterns: ["*.csv"]
    lock_timeout: 0   # another consumer holds that file's lock: skip it, it is being moved
  register: drained

- name: Move a set published by atomic_upload with a directory src, exactly once, manifest last
  lockstep.handoff.locked_move:
    src: /srv/handoff/inbox/reports     # described by /srv/handoff/inbox/reports.done
    dest: /srv/app/reports
    create_parents: true
  register: reports                     # reports.manifest.state is removed once every file moved

- name: Roll out a set of configuration files - wait for every marker and move each file, in one module run
  lockstep.handoff.locked_move:
    files:
      - src: /srv/handoff/incoming/nginx.conf
        dest: /etc/nginx/nginx.conf
      - src: /srv/handoff/incoming/site.conf
        dest: /etc/nginx/conf.d/site.conf
        mode: "0640"
    state_dir: .handoff          # markers in incoming/.handoff/, locks in /etc/nginx/.handoff/ and conf.d/.handoff/
    wait: true
    timeout: 600                 # for the whole list
    all_or_none: true            # never a new nginx.conf with an old site.conf
    create_parents: true
  register: rollout              # rollout.results: one entry per file, in the order given

- name: Take files from a producer that writes no markers (locked and atomic, but no completeness check)
  lockstep.handoff.locked_move:
    src: /srv/drop/legacy.bin
    dest: /srv/ready/legacy.bin
    require_marker: false

- name: Consumers on several hosts of a shared (NFS) import directory - a lock all of them see
  lockstep.handoff.locked_move:
    src: /mnt/shared/inbox/batch.csv
    dest: /mnt/shared/import/batch.csv
    lock_type: redis
    lock_path: /mnt/shared/import/batch.csv.lock   # the lease's name; no file is created
  environment:                                     # or set these once for the whole play
    LOCKSTEP_REDIS_HOST: redis.internal.example.com
    LOCKSTEP_REDIS_PASSWORD: "{{ vault_redis_password }}"
'''

RETURN = r'''
src:
  description: The source path.
  returned: when O(src) is given
  type: str
  sample: /srv/handoff/inbox/app.tar.gz
dest:
  description: The destination path.
  returned: when O(src) is given
  type: str
  sample: /opt/app/releases/app.tar.gz
msg:
  description:
    - What happened, in words (moved, already moved, completed an interrupted move, left in place).
    - With O(files), how many files moved, were in place already and (check mode) are not ready yet; when files
      could not be moved, each of them with its reason.
  returned: always
  type: str
  sample: moved /srv/handoff/inbox/app.tar.gz to /opt/app/releases/app.tar.gz
lock_path:
  description:
    - The lock that was held (in check mode, that would be).
    - For a directory O(src), the lock of the whole drain, O(lock_path); V(null) when each file was moved under a lock
      of its own.
  returned: when O(src) is given
  type: str
  sample: /opt/app/releases/app.tar.gz.lock
lock_wait:
  description: Seconds spent waiting for the lock (V(0) in check mode, where no lock is taken).
  returned: when O(src) is given
  type: float
  sample: 0.004
fencing_token:
  description: With O(lock_type=redis), the fencing token of the lease the move was made under; a holder whose
    lease expired is refused before it renames, and O(src) stays where it is.
  returned: when O(lock_type=redis) and O(src) is a file, not in check mode
  type: int
  sample: 17
leftover_temps:
  description: Temp files (C(.NAME.<hex>.tmp)) found beside O(dest) after the move - partial copies of a cross-device
    move that was killed, or an upload to that path still running. They are reported with a warning, never removed
    here; remove them once no upload is running (or let M(lockstep.handoff.atomic_upload) with
    O(lockstep.handoff.atomic_upload#module:remove_temps_older_than) do it).
  returned: when there are any; for a directory O(src), beside the files the drain moved or found already moved,
    from one listing per destination directory
  type: list
  elements: str
  sample: [/opt/app/releases/.app.tar.gz.3f9a0c1b2d4e.tmp]
cross_device:
  description: Whether the move copied across filesystems instead of renaming.
  returned: when O(src) is a file
  type: bool
  sample: false
sha256:
  description: The sha256 of the moved data (in check mode, of the data that would be moved, from its marker when it
    has one).
  returned: when the data was moved, or was found already in place
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: The size of the moved data in bytes (in check mode, of the data that would be moved).
  returned: when the data was moved, or was found already in place
  type: int
  sample: 1048576
marker:
  description: The source's parsed marker, when O(require_marker) judged one.
  returned: when the data was moved with O(require_marker=true)
  type: dict
  sample: {"protocol": "lockstep.handoff/1", "state": "complete", "size": 1048576, "generation": 1,
           "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
kept_previous:
  description: Path of the copy of the replaced O(dest) kept for O(rollback) (C(.NAME.prev-1)), or V(null).
  returned: when a file was moved
  type: str
  sample: /etc/nginx/.nginx.conf.prev-1
restored_sha256:
  description: With O(rollback), the sha256 of the version now at O(dest) that a rollback put there.
  returned: with O(rollback) and a single O(dest)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
replaced_sha256:
  description: With O(rollback), the sha256 of the version the rollback replaced (V(null) when O(dest) was missing).
  returned: with O(rollback) and a single O(dest)
  type: str
  sample: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
status:
  description: With O(rollback) and a single O(dest) - V(restored), or V(unchanged) when it was rolled back already.
  returned: with O(rollback) and a single O(dest)
  type: str
  sample: restored
backup_file:
  description: Path of the backup of the replaced O(dest), or V(null).
  returned: when O(src) is a file
  type: str
  sample: /opt/app/releases/app.tar.gz.4242.2026-11-23@10:00:00~
moved:
  description: With a directory O(src), the files moved by this run (in check mode, those that would be).
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: [{"src": "/srv/handoff/inbox/a.csv", "dest": "/srv/app/import/a.csv", "size": 42, "cross_device": false,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "msg": "moved ..."}]
already_moved:
  description: With a directory O(src), files another consumer had just moved (same shape as RV(moved)).
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: []
not_ready:
  description: With a directory O(src), files left because their marker is missing or does not describe them yet.
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: [{"src": "/srv/handoff/inbox/b.csv", "reason": "not moving ...: data file ... exists but its marker ..."}]
busy:
  description: With a directory O(src), files left because their lock stayed held for O(lock_timeout).
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: [{"src": "/srv/handoff/inbox/c.csv", "reason": "lock /srv/app/import/c.csv.lock is held by pid 4242 ..."}]
failed_by_producer:
  description: With a directory O(src), files whose marker says C(failed); any such file fails the task after the
    other files were moved.
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: []
skipped:
  description:
    - With a directory O(src), entries that are not regular files (a symlink, FIFO, socket or device; directories
      are passed over) and files that changed into one, or whose marker did, while they were being moved. They are
      never followed or read; the other files are moved all the same.
  returned: when O(src) is a directory
  type: list
  elements: dict
  sample: [{"path": "/srv/handoff/inbox/link.csv", "reason": "not a regular file (a symlink); only regular files are moved"}]
manifest:
  description:
    - With a directory O(src) described by a manifest marker - its path, file count and generation, and C(state),
      what became of it - V(removed), V(moved), V(kept), V(pending) (files of the set are still in O(src)),
      V(replaced by the producer) (a new manifest appeared meanwhile and was left alone), or in check mode
      V(would be removed) / V(would be moved).
  returned: when O(src) is a directory described by a manifest
  type: dict
  sample: {"path": "/srv/handoff/inbox/reports.done", "files": 50, "generation": 3, "state": "removed"}
results:
  description:
    - With O(files), one entry per file, in the order of O(files) - the keys a task with that O(src) returns
      (RV(src), RV(dest), RV(msg), RV(lock_path), RV(sha256), RV(size), ...), and C(status) and C(failed).
    - C(status) is V(moved) (in check mode, would be moved), V(unchanged) (in place already, or left with
      O(force=false)), V(not_ready) (check mode only - its marker is not complete yet; a real run would wait for it or
      fail), V(not_moved) (O(all_or_none) - ready, but held back because other files were not) or V(failed) (RV(msg)
      says why, and with O(wait) what the wait saw last).
    - With O(rollback), C(status) is V(restored) (in check mode, would be restored), V(unchanged) (rolled back
      already) or V(failed), with C(restored_sha256) and C(replaced_sha256).
  returned: when O(files) is given
  type: list
  elements: dict
  sample: [{"src": "/srv/handoff/incoming/nginx.conf", "dest": "/etc/nginx/nginx.conf", "status": "moved",
            "changed": true, "failed": false, "msg": "moved /srv/handoff/incoming/nginx.conf to /etc/nginx/nginx.conf",
            "lock_path": "/etc/nginx/nginx.conf.lock", "lock_wait": 0.001, "size": 2310, "cross_device": false,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
elapsed:
  description: With O(files), seconds the run spent (waiting and moving).
  returned: when O(files) is given
  type: float
  sample: 0.42
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kinds import lock_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._observe import marker_check_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import state_dir_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend

MARKER_ACTIONS = ('remove', 'move', 'keep')

# One file (src, dest), or a list of them (files), never both; the per-file paths of a list are the files' own.
# A rollback needs only dest.
ARGUMENT_RULES = dict(
    required_one_of=[('dest', 'files')],
    required_if=[('rollback', False, ('src', 'files'), True)],
    required_by=dict(src=('dest',)),
    mutually_exclusive=[('src', 'files'), ('dest', 'files'), ('marker_path', 'files'), ('dest_marker_path', 'files')],
)


def argument_spec():
    """The options DOCUMENTATION describes: the move's own, how a marker is judged, and the lock's."""
    spec = dict(
        src=dict(type='path'),
        dest=dict(type='path'),
        files=dict(type='list', elements='dict', options=dict(
            src=dict(type='path', required=True),
            dest=dict(type='path', required=True),
            marker_path=dict(type='path'),
            dest_marker_path=dict(type='path'),
            lock_path=dict(type='path'),
            mode=dict(type='raw'),
            owner=dict(type='str'),
            group=dict(type='str'),
        )),
        wait=dict(type='bool', default=False),
        timeout=dict(type='float', default=300.0),
        sleep=dict(type='float', default=1.0),
        skip_moved=dict(type='bool', default=True),
        all_or_none=dict(type='bool', default=False),
        require_marker=dict(type='bool', default=True),
        marker=dict(type='str', choices=list(MARKER_ACTIONS), default='remove'),
        dest_marker_path=dict(type='path'),
        force=dict(type='bool', default=True),
        backup=dict(type='bool', default=False),
        keep_previous=dict(type='int', default=0),
        rollback=dict(type='bool', default=False),
        create_parents=dict(type='bool', default=False),
        patterns=dict(type='list', elements='str', default=['*']),
    )
    spec.update(marker_check_argument_spec())
    spec.update(state_dir_argument_spec())
    spec.update(lock_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, add_file_common_args=True,
                           **ARGUMENT_RULES)
    run_backend(module, LockedMove)


if __name__ == '__main__':
    main()
