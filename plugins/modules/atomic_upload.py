#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: atomic_upload
short_description: Publish a file so that no reader ever sees it partial, then mark it done
version_added: 0.1.0
description:
  - Copies a file from the controller (O(src)) or inline text (O(content)) to O(dest) on the target by
    protocol v1 of C(lockstep.handoff) - the data goes into a temp file in the destination directory
    (C(.NAME.<random>.tmp), created exclusively, mode 0600), is fsynced and checked against the sha256
    computed on the controller, gets its final attributes, is renamed onto O(dest), the directory is fsynced,
    and only then a done marker (C(NAME.done), JSON with size and sha256) is written the same way.
  - A reader of O(dest) sees the old file or the new one, never a part; a consumer that waits for the marker
    (M(lockstep.handoff.wait_for_marker)) never picks up data that is still arriving. A crash at any point
    leaves the old O(dest), or the new one without its marker; re-running the task converges.
  - When no user but the connection user and root can replace names in the destination directory (see O(dest)),
    the bytes are transferred straight into the temp file there (no second copy through the remote temp
    directory). Otherwise, and with become, the transfer goes through the remote temp directory and the module
    copies it into a temp file it holds open, hashing as it copies.
  - When O(dest) already holds the same bytes and a marker that describes them, nothing is transferred and the
    task reports C(changed=false). When only the marker is missing or stale, only the marker is written.
  - This module runs partly on the controller (an action plugin hashes and sends the source), partly on the
    target (standard library only, Python 3.8 or later).
  - With a directory O(src), the whole tree of files below it is published as one set into the directory O(dest),
    at a constant cost per host whatever the number of files - one probe module run (the target answers which files
    differ from the controller's sha256 list), one transfer of only the changed files as an uncompressed tar put
    straight into a temp file inside O(dest), and one publish module run. The publish checks every archive member
    (regular files with the announced names and sizes only; absolute paths, C(..), links, devices and directories are
    refused, and nothing is written through a symlink inside O(dest)), copies each into its own temp file beside its
    target while hashing it, fsyncs, validates, renames each file into place (each one atomically), and writes one
    manifest marker last (C(DEST.done) - every file's relative path, size and sha256, see RV(files)). The set is
    complete only once that manifest exists and matches. An unchanged set costs the probe only. A set whose files add
    up to 1 MiB or less costs a single module run instead - every file travels inside that run (an uncompressed tar in
    the module's arguments, kept out of logs like a C(no_log) value), which probes the set and publishes the files
    that changed, checked the same way; RV(transfer_path) is then V(inline).
  - A list O(src) (several files, each found like a single O(src)) is published as one set the same way, each file at
    its base name directly below the directory O(dest).
  - O(files) publishes several files, each to a destination of its own anywhere on the host, at the same constant
    cost - one probe module run for all of them, one transfer of the changed ones (an uncompressed tar, always through
    the connecting user's private remote temp directory, whatever directories the files go to), and one publish module
    run. Each file is published exactly as a task of its own would publish it - its own temp file, fsync, rename and
    C(NAME.done) marker (protocol v1), its own lock - so M(lockstep.handoff.wait_for_marker), C(handoff.sh) and any
    consumer of one file see no difference. Unchanged files cost only the probe. A list whose files add up to
    1 MiB or less costs a single module run instead - its files travel inside that run (an uncompressed tar in the
    module's arguments, kept out of logs like a C(no_log) value), which probes each file and publishes those that
    changed; RV(transfer_path) is then V(inline). A file that fails (its directory is missing, its validation fails,
    its lock is held) does not stop the others; the task then fails, naming each file that failed, and RV(files) says
    what happened to every file.
author:
  - Lockstep maintainers (@lockstep)
extends_documentation_fragment:
  - ansible.builtin.files
  - lockstep.handoff._attributes
  - lockstep.handoff._attributes.files
  - lockstep.handoff._attributes.transfer
  - lockstep.handoff.lock
  - lockstep.handoff.redis
  - lockstep.handoff.state_dir
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - In check mode a directory of O(dest) or O(marker_path) that does not exist yet is no error (the task that makes
        it changed nothing in check mode either); the task reports C(changed), with RV(msg) saying the directory is
        needed.
  diff_mode:
    support: full
    details: Shows the old and new text of O(dest) when both are text and no larger than C(MAX_FILE_SIZE_FOR_DIFF).
      With a directory or list O(src), lists the files that change as C(sha256  path) lines, old and new.
      With O(files), one such diff per file that changes.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: full
options:
  src:
    description:
      - Path of the file to upload, on the controller (or of a directory, or a list of files - see below). A relative
        path is searched like M(ansible.builtin.copy) searches it (the role's C(files/), the playbook's directory).
      - Exactly one of O(src), O(content) and O(files) is required.
      - A directory publishes every file below it (recursively) as one set below the directory O(dest). The
        directory's B(content) is published, whether or not O(src) ends with C(/) - unlike
        M(ansible.builtin.copy), where C(src=dir) without the slash creates C(dest/dir). Symlinks to files are
        followed; a symlink to a directory, a dangling symlink or a special file fails the task.
      - A list of file paths publishes those files as one set below the directory O(dest), exactly as a directory
        O(src) is published (one probe, one archive, one manifest). Each item is searched like a single O(src), and
        each file goes to its B(base name) directly below O(dest) (C(files/a.conf) becomes C(DEST/a.conf)); two
        items with the same base name fail the task, naming both. A list of one file is a set of one file. Items
        must be files (or symlinks to files); a directory item fails the task.
      - Anything else (a mapping, a boolean, an empty list, a list item that is not a path) fails the task with a
        message naming it.
    type: raw
  content:
    description:
      - The text to write to O(dest), instead of a file. Written as UTF-8.
      - Exactly one of O(src), O(content) and O(files) is required.
    type: str
  files:
    description:
      - Several files to publish, each to its own O(files[].dest), in one probe, one transfer and one publish per host,
        or in one module run when they add up to 1 MiB or less (see the description above), instead of O(src) or
        O(content) and O(dest).
      - Every other option of the task (O(lock), O(state_dir), O(marker), O(validate), O(backup), O(force), the lock and
        Redis options, and O(mode), O(owner), O(group) unless an item sets its own) applies to each file.
      - Two items with the same O(files[].dest) fail the task before anything is sent. O(marker_path) and O(lock_path)
        of the task are refused with O(files); give them per item.
      - An item whose O(files[].src) is a directory on the controller stands for every regular file below it (hidden
        files included), in sorted order, each to O(files[].dest) plus its path relative to the directory, with the
        item's O(files[].mode), O(files[].owner), O(files[].group) and O(files[].lock_path), and a marker of its own.
        Symlinks below it are not followed and not published, nor are FIFOs, sockets and devices; a warning names
        each one skipped. A directory holding no regular file adds no file.
      - Two files that would share one marker (with an absolute O(state_dir), two files of the same name) fail the
        task before anything is sent, naming both; give them different names, a relative O(state_dir) or a
        O(files[].marker_path) each.
    type: list
    elements: dict
    suboptions:
      src:
        description:
          - Path of a file on the controller, searched like O(src). It must be a file (or a symlink to one), or a
            directory, which stands for the regular files below it (see O(files)).
          - Exactly one of O(files[].src) and O(files[].content) is required.
        type: path
      content:
        description:
          - Text to publish instead of a file, written as UTF-8.
        type: str
      dest:
        description:
          - Absolute path of the file on the target, as O(dest) for one file; for a directory O(files[].src), the
            directory its files go to. Its directory must exist, unless O(create_parents) makes it.
        type: path
        required: true
      mode:
        description:
          - Mode of this file, instead of the task's O(mode).
        type: raw
      owner:
        description:
          - Owner of this file, instead of the task's O(owner).
        type: str
      group:
        description:
          - Group of this file, instead of the task's O(group).
        type: str
      marker_path:
        description:
          - Where this file's done marker goes, as O(marker_path) for one file. Defaults to O(files[].dest) with
            C(.done) appended, or C(NAME.done) in O(state_dir).
          - Refused for a directory O(files[].src), whose files each get a marker of their own.
        type: path
      lock_path:
        description:
          - The lock held while this file and its marker are replaced (with O(lock=true)), as O(lock_path) for one
            file. Defaults to O(files[].dest) with C(.lock) appended, or C(NAME.lock) in O(state_dir).
        type: path
  decrypt:
    description:
      - Decrypt O(src) when it is vault-encrypted, before hashing and sending it.
    type: bool
    default: true
  dest:
    description:
      - Absolute path of the file to publish on the target. Its directory must exist, unless O(create_parents)
        makes it.
      - Required unless O(files) is given (each of its items has its own O(files[].dest)).
      - A symlink at O(dest) is replaced by the file, not followed.
      - A new O(dest) takes the mode, owner and group of the file it replaces (as with M(ansible.builtin.copy))
        only when that file belongs to the connecting (or become) user or to root. Another user's file lends
        nothing - O(dest) then gets mode 0666 minus the umask and this user's ownership unless O(mode), O(owner),
        O(group) say otherwise - and is replaced by the new file (a rename), so a file pre-created by another user
        in a sticky directory such as C(/tmp) never keeps that user as owner.
      - The bytes go straight into a temp file beside O(dest) only when no user but the connecting user and root
        can replace names on the way to its directory (every directory from C(/) down owned by one of them and not
        group- or world-writable unless sticky). Otherwise - a shared inbox such as C(root:app 2775), or with
        C(become) - they are staged in the connecting user's private remote temp directory and copied from
        there into a temp file the module holds open, which costs one extra copy on the target; RV(transfer_path)
        says which way was taken. In such a directory the SELinux options and O(attributes) are refused, as they
        can only be applied by name.
      - With a directory or list O(src), the directory the set goes into; it is created when missing (its parent
        must exist). Files in it that are not part of the set are left alone.
    type: path
  marker:
    description:
      - Write the done marker after the data is durable. Set V(false) to use this module only as a crash-safe
        replacement for M(ansible.builtin.copy); an existing marker is then left as it is.
      - The marker is never readable by more users than the data is - it carries the data's sha256 - it gets the
        data file's permission bits without execute bits (a 0600 file gets a 0600 marker, a 0644 file a 0644 one),
        and the data's owner and group where this user may give them. A set's manifest gets the narrowest mode of
        its files. A C(failed) marker written with no new data is 0644, narrowed by O(mode) when given.
    type: bool
    default: true
  marker_path:
    description:
      - Where the done marker goes. Defaults to O(dest) with C(.done) appended, or C(NAME.done) in O(state_dir).
      - Relocate it (for example to a C(.handoff/) subdirectory, which must exist; O(state_dir) does that for the
        lock too) when the destination directory is read by a glob such as nginx C(include conf.d/*), C(run-parts)
        or C(/etc/cron.d).
    type: path
  force:
    description:
      - Replace O(dest) when it exists with other content. With V(false) an existing O(dest) is left alone and
        the task reports C(changed=false), as with M(ansible.builtin.copy).
    type: bool
    default: true
  backup:
    description:
      - Keep a timestamped copy of the replaced O(dest) beside it, taken under the lock when O(lock) is set.
      - The copy is named C(DEST.<pid>.<YYYY-MM-DD@HH:MM:SS>~) and is made only of a regular file; it gets O(dest)'s
        owner, group, mode (without setuid, setgid or sticky bits) and times. When that name exists already (another
        user may have planted it), or O(dest) is a symlink or FIFO, the task fails and O(dest) is not replaced.
    type: bool
    default: false
  validate:
    description:
      - A command run on the complete temp file before it is renamed onto O(dest); C(%s) stands for its path
        and is required. When it fails, O(dest) and its marker are not touched and the temp file is removed.
      - The command runs without a shell, as with M(ansible.builtin.copy).
    type: str
  failure_marker:
    description:
      - What a failed publish (validation failed, checksum mismatch after transfer, disk full, read-only
        filesystem) leaves at O(marker_path), so that consumers waiting for it fail at once with the reason
        instead of waiting for their timeout.
      - V(unless_complete) writes a C(failed) marker unless a complete marker is there; that marker describes the
        version still in place, which consumers may still take.
      - V(always) writes it in any case, replacing a complete marker (consumers then see the new version failed).
      - V(never) leaves markers alone.
      - The next successful publish replaces a C(failed) marker.
    type: str
    choices: [unless_complete, always, never]
    default: unless_complete
  remove_temps_older_than:
    description:
      - Remove temp files of O(dest) (C(.NAME.<random>.tmp)) left by interrupted uploads when their last
        modification is at least this many seconds old.
      - A running upload keeps writing to its temp file, so pick an age well above your longest transfer.
      - Without it, leftover temp files are only reported in a warning.
    type: float
  transfer_compression:
    description:
      - Whether the bytes sent to the target go through ssh's zlib compression. Only the
        P(ansible.builtin.ssh#connection) connection compresses; with any other connection this option changes
        nothing.
      - ansible-core's default C(ssh_args) start with C(-C), which compresses everything the connection carries.
        Data that does not shrink (archives, images, encrypted or random bytes) then costs about 30 MB/s of one
        CPU core for nothing; a 1 GiB upload takes several times as long as C(scp) without C(-C).
      - V(off) sends over an ssh connection of its own, built from the same settings without C(-C) and
        C(Compression), under a ControlPath of its own that later transfers to the host reuse while it persists.
        Its set-up costs one ssh handshake per host.
      - V(connection) sends over the task's connection as it is configured, compressed when its settings say so.
        Choose it for compressible data over a slow link.
      - V(auto) is V(off) for 8 MiB or more (the file, or the archive of a directory's changed files) and
        V(connection) below, where the extra handshake costs more than compression does.
    type: str
    choices: [auto, 'off', connection]
    default: auto
  redis_state:
    description:
      - Mirror the state of this publish into Redis (the server named by the C(redis_*) options), so that a consumer
        on another host, or the controller, can wait for a file it cannot see with
        M(lockstep.handoff.wait_for_marker) and O(lockstep.handoff.wait_for_marker#module:redis_state_host).
      - The state lives in a Redis stream named after the inventory hostname and O(dest)
        (C(<redis_key_prefix>state:<inventory_hostname>:<dest>), returned as RV(redis_state_key)) - V(running) once
        the data is about to be sent, then what the marker file says - V(complete) with sha256, size and generation,
        or V(failed) with the reason.
      - B(The marker file on the host is the source of truth; Redis mirrors it.) When they disagree (Redis was down or
        lost its data, a stale entry), the file wins - a re-run of the task that finds the data in place records the
        marker again. A Redis failure after the file was published fails the task saying so; the file stays
        published.
      - Needs O(marker=true). Nothing is recorded in check mode.
    type: bool
    default: false
  lock:
    description:
      - Hold the lock O(lock_path) while replacing O(dest) and writing its marker, so that concurrent producers
        of the same O(dest) (and consumers using the same lock) never see a marker that disagrees with the data.
    type: bool
    default: false
  create_parents:
    description:
      - Create the missing directories of O(dest) (of each O(files[].dest)), of its marker and of its lock file
        (O(state_dir), O(marker_path), O(lock_path)), with every missing parent, in the probe - no extra module run.
      - Each directory is made one step at a time, relative to the directory above it, from C(/) down. A symlink on
        the way is followed only when it belongs to this user or root and sits in a directory nobody else can change
        (such as C(/var/run)); any other - one another user of a shared directory could have planted - fails the task
        (or, with O(files), that file) naming it, and nothing is created through it. A directory replaced by another
        user right after it was made fails it too.
      - The directories made are returned in RV(created_directories). In check mode nothing is made; the directories
        that would be are returned there, and the file counts as a change.
      - Without it a missing directory fails the task with a message naming it (in check mode it is reported, as
        an earlier task that would create it changed nothing either).
    type: bool
    default: false
  directory_mode:
    description:
      - Permission bits of the directories O(create_parents) makes, as O(mode) takes them (octal V('0750') or
        symbolic V(u=rwx,g=rx,o=)). Quote octal modes.
      - Unset, they get C(0777) minus the umask. Directories that exist are never changed. A set-group-ID bit the
        new directory inherits from a shared parent is kept.
    type: raw
notes:
  - The marker is removed just before O(dest) is replaced and written again after it; in between, O(dest) exists
    without a marker, which consumers correctly read as "not ready".
  - Each publish increments the marker's C(generation); it is strictly increasing when every producer uses O(lock).
  - Interrupted uploads leave temp files named C(.NAME.<random>.tmp) in the destination directory; they are never
    renamed onto O(dest) and can be removed safely once no upload is running.
  - Ansible's default C(ssh_args) start with C(-C) (compression). Data that does not compress (archives, images,
    encrypted files) then costs zlib CPU on both sides for nothing; on a fast network that can double the transfer
    time of a large file. Set C(ansible_ssh_args) (or C(ANSIBLE_SSH_ARGS)) without C(-C) for such uploads, for example
    C(-o ControlMaster=auto -o ControlPersist=60s).
  - To tell whether O(dest) already holds the data, the probe reads O(dest) only when it might - same size, and no
    complete marker naming other bytes (producers write the marker last, so it describes O(dest)). A changed upload
    therefore costs no extra full read of the old file. The same holds per file of a set, with its manifest.
  - "With a directory or list O(src): O(force=false) is refused (the manifest must describe what is there); O(validate) runs
    on each changed file before any is renamed; O(backup) keeps a copy of each replaced file (RV(backup_files));
    O(lock) (default lock path C(DEST.lock)) is held while the files are renamed and the manifest written, and a
    Redis lease (O(lock_type=redis)) is confirmed once before the first rename, its fencing token recorded in the
    manifest; the manifest goes to O(marker_path), default C(DEST.done) beside the directory. Until the new manifest is written
    the set has none, which consumers read as not ready; a crash in between leaves some files new and some old, and
    re-running the task converges."
seealso:
  - module: lockstep.handoff.wait_for_marker
  - module: lockstep.handoff.locked_move
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Publish a release archive and mark it done
  lockstep.handoff.atomic_upload:
    src: files/app-1.4.2.tar.gz
    dest: /srv/handoff/inbox/app.tar.gz
    mode: "0640"

- name: Publish inline content, validated before it goes live
  lockstep.handoff.atomic_upload:
    content: "{{ lookup('ansible.builtin.template', 'site.conf.j2') }}"
    dest: /etc/nginx/conf.d/site.conf
    validate: /usr/sbin/nginx -t -q -c %s
    # nginx includes conf.d/*: keep the marker out of the glob's reach
    marker_path: /etc/nginx/.handoff/site.conf.done

- name: Keep marker and lock in a .handoff/ subdirectory, where no conf.d/* glob reaches
  lockstep.handoff.atomic_upload:
    src: files/site.conf
    dest: /etc/nginx/conf.d/site.conf
    state_dir: .handoff   # marker /etc/nginx/conf.d/.handoff/site.conf.done
    lock: true            # lock /etc/nginx/conf.d/.handoff/site.conf.lock

- name: Several producers may publish the same file; serialise them
  lockstep.handoff.atomic_upload:
    src: report.csv
    dest: /srv/handoff/outbox/report.csv
    lock: true
    lock_timeout: 60
    backup: true

- name: Publish a directory as one set - one probe, one archive of the changed files, one manifest
  lockstep.handoff.atomic_upload:
    src: files/reports/        # its content goes below dest, with or without the trailing slash
    dest: /srv/handoff/inbox/reports
    mode: "0640"
  register: reports            # reports.files_changed lists what was sent

- name: Publish a few files as one set - each lands at its base name below dest
  lockstep.handoff.atomic_upload:
    src:
      - app.conf                               # the role's files/app.conf -> /etc/app/conf.d/app.conf
      - "{{ playbook_dir }}/generated/db.conf"  # -> /etc/app/conf.d/db.conf
    dest: /etc/app/conf.d
    mode: "0640"
  register: confs              # a second run with the same files reports changed=false

- name: Roll out configuration files to their places - one module run per host for a few small files
  lockstep.handoff.atomic_upload:
    files:
      - src: files/app.conf
        dest: /etc/app/app.conf
        mode: "0640"
      - src: files/app.service
        dest: /etc/systemd/system/app.service
      - content: "{{ lookup('ansible.builtin.template', 'site.conf.j2') }}"
        dest: /etc/nginx/conf.d/site.conf
        marker_path: /etc/nginx/.handoff/site.conf.done
    lock: true
  register: rollout            # rollout.files holds one result per file, in order

- name: A directory tree into directories that may not exist yet - each file with its own marker
  lockstep.handoff.atomic_upload:
    files:
      - src: files/conf.d/       # every regular file below it: conf.d/a.conf -> /etc/app/conf.d/a.conf, ...
        dest: /etc/app/conf.d
        mode: "0640"
      - content: "release=1.4.2\n"
        dest: /srv/handoff/inbox/2026/12/RELEASE
    state_dir: .handoff          # markers in /etc/app/conf.d/.handoff/, /etc/app/conf.d/sub/.handoff/, ...
    create_parents: true         # makes /srv/handoff/inbox/2026/12, the .handoff directories, ...
    directory_mode: "0750"
  register: tree               # tree.created_directories lists the directories made

- name: The consumer waits for the manifest, checking every file it lists
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/reports   # the manifest is /srv/handoff/inbox/reports.done

- name: A crash-safe copy without any marker
  lockstep.handoff.atomic_upload:
    src: motd
    dest: /etc/motd
    marker: false

- name: Large text over a slow link - keep the connection's ssh compression
  lockstep.handoff.atomic_upload:
    src: app.log
    dest: /srv/archive/app.log
    transfer_compression: connection

- name: Publish, and mirror the state to Redis for consumers on other hosts
  lockstep.handoff.atomic_upload:
    src: files/app.tar.gz
    dest: /srv/handoff/outbox/app.tar.gz
    redis_state: true
  environment:
    LOCKSTEP_REDIS_HOST: redis.internal.example.com
    LOCKSTEP_REDIS_PASSWORD: "{{ vault_redis_password }}"

- name: Producers on many hosts publishing into shared storage - a Redis lease with a fencing token
  lockstep.handoff.atomic_upload:
    src: report.csv
    dest: /mnt/shared/outbox/report.csv
    lock: true
    lock_type: redis
    redis_host: redis.internal.example.com
    redis_password: "{{ vault_redis_password }}"
'''

RETURN = r'''
dest:
  description: The path published.
  returned: always, except with O(files) (each file has its own in RV(files))
  type: str
  sample: /srv/handoff/inbox/app.tar.gz
sha256:
  description: The sha256 of the data, computed on the controller and verified on the target.
  returned: always, except with O(files) (each file has its own in RV(files))
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: The size of the data in bytes.
  returned: always, except with O(files) (each file has its own in RV(files))
  type: int
  sample: 1048576
marker_path:
  description: Path of the done marker, or V(null) when O(marker=false).
  returned: always, except with O(files) (each file has its own in RV(files))
  type: str
  sample: /srv/handoff/inbox/app.tar.gz.done
backup_file:
  description: Path of the backup of the replaced O(dest), or V(null).
  returned: always, except with O(files) (each file has its own in RV(files))
  type: str
  sample: /srv/handoff/inbox/app.tar.gz.4242.2026-11-23@10:00:00~
action:
  description:
    - What the task did, or would do in check mode - V(none) (all in place), V(attributes) (only file attributes
      changed), V(marker) (the data was in place, only the marker was written) or V(transfer) (the data was sent
      and published).
  returned: always
  type: str
  sample: transfer
generation:
  description: The marker's generation number after this publish (the previous one plus 1).
  returned: when a marker was written with the data
  type: int
  sample: 3
transfer_path:
  description:
    - How the bytes reached the target - V(direct) (straight into a temp file beside O(dest)), V(staged) (through
      the connecting user's private remote temp directory, then copied into a temp file the module holds open;
      see O(dest)) or, for a small set or O(files) list, V(inline) (inside the one module run, then copied into a temp
      file the module holds open).
  returned: when data was transferred
  type: str
  sample: direct
msg:
  description:
    - One line on how the task went. After a transfer - how much was sent, how long sending took and at what rate,
      which way the bytes went (RV(transfer_path)), whether ssh compressed them, and the task's whole time. Without a
      transfer - why nothing was sent (the data was in place, check mode, or O(force=false) left an existing O(dest)).
    - In check mode, when a directory of O(dest) or O(marker_path) does not exist yet, it says so instead.
    - The same line is shown as the task runs at C(-v).
  returned: success
  type: str
  sample: sent 1.0 GiB in 9.4 s (109 MiB/s), direct, ssh compression off; 10.2 s in all
transfer:
  description:
    - What the task cost, to explain a slow one. Phases may overlap - a large source is hashed while it is probed
      and sent.
  returned: always
  type: dict
  contains:
    elapsed:
      description: Seconds the whole task took on the controller.
      type: float
      sample: 10.214
    phases:
      description:
        - Seconds per phase - V(hash) (the controller hashing the source), V(probe) (the module run that compares
          with O(dest)), V(send) (moving the bytes), V(publish) (the module run that verifies, renames and writes
          the marker), V(abort) (cleaning up after a failed send), V(inline) (the one module run of a small set or
          O(files) list, which does the probe and the publish with the bytes inside it). Only the phases that ran are listed.
      type: dict
      sample: {hash: 2.31, probe: 0.35, send: 9.402, publish: 0.44}
    bytes_sent:
      description: Bytes moved to the target - the file, or for a directory or list O(src) or O(files) the archive of
        the changed files (of every file for a small set or O(files) list, which travels whole inside its one module run);
        V(0) when nothing was sent.
      type: int
      sample: 1073741824
    throughput_mib_s:
      description: RV(transfer.bytes_sent) in MiB per second of the V(send) phase, or V(null) when nothing was sent.
      type: float
      sample: 108.9
    path:
      description:
        - V(direct), V(staged) or V(inline) - which way the bytes went, as RV(transfer_path) says after a publish; also
          given when the publish after the transfer failed. V(null) when nothing was sent.
      type: str
      sample: direct
    ssh_compression:
      description:
        - Whether the bytes went through ssh compression (the connection's C(-C), kept by
          O(transfer_compression=connection) or for small files with O(transfer_compression=auto)); V(false) for
          connections without it; V(null) when nothing was sent.
      type: bool
      sample: false
direct_transfer_refused:
  description: Why the bytes were not written straight beside O(dest) - which directory on the way another user can
    write.
  returned: when a direct transfer was possible for the connection but refused for the directory
  type: str
  sample: /srv/handoff/inbox is writable by its group (mode 2775)
removed_temps:
  description: Temp files of interrupted uploads removed because of O(remove_temps_older_than) (in check mode, those
    that would be).
  returned: when O(dest) was looked at, also when the publish after it failed
  type: list
  elements: str
  sample: [/srv/handoff/inbox/.app.tar.gz.3f2a9c0e51b7.tmp]
files:
  description:
    - With a directory or list O(src), how many files the set has (an integer). RV(sha256) and RV(size) are then those
      of the set - the sha256 of its file list in C(sha256sum) format, and the total size.
    - With O(files), one result per item, in the order of O(files) - C(dest), C(changed), C(action) (as RV(action)),
      C(sha256), C(size), C(marker_path), C(backup_file), and after a publish C(generation), C(transfer_path) and
      C(lock_wait); a file that failed has C(failed=true) and C(msg) saying why. In check mode a file whose
      directory, marker directory or lock directory does not exist yet is reported as a change (C(action=transfer))
      with those directories in C(missing_directories), as an earlier task of the play would create them; a real run
      fails that file instead.
  returned: when O(src) is a directory or a list, or with O(files)
  type: raw
  sample: [{dest: /etc/app/app.conf, changed: true, action: transfer, size: 812, marker_path: /etc/app/app.conf.done,
            sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, generation: 4}]
files_changed:
  description: With a directory or list O(src), the relative paths of the files sent (in check mode, that would be
    sent); with O(files), the O(files[].dest) of those files.
  returned: when O(src) is a directory or a list, or with O(files)
  type: list
  elements: str
  sample: [daily/2026-11-23.csv]
backup_files:
  description: With a directory or list O(src) and O(backup=true), the backups of the replaced files.
  returned: when O(src) is a directory or a list and files were sent
  type: list
  elements: str
  sample: [/srv/handoff/inbox/reports/a.csv.4242.2026-11-23@10:00:00~]
created_directories:
  description:
    - The directories O(create_parents) made, parents first (in check mode, those it would make).
    - With O(files) each file's result in RV(files) lists the directories made for it, and this key lists all of them.
  returned: when O(create_parents=true) made (or in check mode would make) a directory
  type: list
  elements: str
  sample: [/srv/handoff/inbox/2026, /srv/handoff/inbox/2026/12, /srv/handoff/inbox/2026/12/.handoff]
lock_wait:
  description: Seconds spent waiting for the lock.
  returned: when O(lock=true) and not in check mode
  type: float
  sample: 0.002
redis_state_key:
  description: With O(redis_state=true), the Redis stream that mirrors the state of O(dest).
  returned: when O(redis_state=true) and the state was recorded
  type: str
  sample: "lockstep:handoff:state:web1:/srv/handoff/inbox/app.tar.gz"
fencing_token:
  description:
    - With O(lock=true) and O(lock_type=redis), the fencing token of the lease the file (or the set) was published
      under; it is also recorded in the marker or manifest (C(fencing_token)).
    - A holder whose lease expired before it could publish is refused, and O(dest) and its marker are not touched.
  returned: when the data was published under a Redis lease
  type: int
  sample: 17
rc:
  description: The exit status of the O(validate) command that rejected the file.
  returned: when O(validate) ran and failed
  type: int
  sample: 1
stdout:
  description: What the O(validate) command that rejected the file printed on its standard output.
  returned: when O(validate) ran and failed
  type: str
  sample: ""
stderr:
  description: What the O(validate) command that rejected the file printed on its standard error.
  returned: when O(validate) ran and failed
  type: str
  sample: "nginx: [emerg] unknown directive \"listn\" in /srv/handoff/inbox/.nginx.conf.3f2a9c0e51b7.tmp:1"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    INLINE_OPTION, REQUEST_ARGUMENT_SPEC, REQUEST_OPTION, decode_inline, parse_request)
from ansible_collections.lockstep.handoff.plugins.module_utils._upload import Upload
from ansible_collections.lockstep.handoff.plugins.module_utils._upload_files import UploadFiles
from ansible_collections.lockstep.handoff.plugins.module_utils._upload_options import upload_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._upload_set import UploadSet


def argument_spec():
    """The user's options, and ``_request`` and ``_inline``, set by the action plugin only and undocumented."""
    spec = upload_argument_spec()
    spec.update(REQUEST_ARGUMENT_SPEC)
    return spec


def backend(module):
    """The backend for the phase the action plugin asked for."""
    request = parse_request(module.params[REQUEST_OPTION])
    inline = decode_inline(request, module.params[INLINE_OPTION])
    if request.is_files:
        return UploadFiles(module, request, inline)
    if request.is_set:
        return UploadSet(module, request, inline)
    return Upload(module, request)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, add_file_common_args=True)
    run_backend(module, backend)


if __name__ == '__main__':
    main()
