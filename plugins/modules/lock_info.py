#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: lock_info
short_description: Show who holds a lock file, who waits for it, and since when
version_added: 0.1.0
description:
  - Reports, for the lock O(path) or for the lock files in the directory O(path) that match O(patterns), whether
    the lock is held, by which processes (pid, command line, C(FLOCK), C(POSIX) or C(OFDLCK), C(READ) or
    C(WRITE)), which processes wait for it, and since when.
  - Like C(lslocks), it reads C(/proc/locks) and matches the lock file by device and inode, so it sees the locks of
    util-linux flock(1), of M(lockstep.handoff.locked_move), M(lockstep.handoff.locked_command) and
    M(lockstep.handoff.atomic_upload), and of any other program, whether they lock with flock(2) or fcntl(2).
  - The owner record that the modules of this collection write into a lock file they hold exclusively adds the
    holding module, the host and the time the lock was taken. For holders that write no record (flock(1),
    cron jobs) RV(locks[].holders[].since) is the start time of the holding process.
  - A record found while nobody holds the lock is the trace of a holder that crashed (a clean release clears it);
    it is returned with RV(locks[].owner_record.stale=true).
  - The kernel's view is the truth, the record only a claim. RV(locks[].holders[].pid), C(command), C(kind), C(mode),
    C(exited), C(inherited_by) and the waiters come from C(/proc/locks) and C(/proc/PID/); the record's fields
    (C(holder), C(host), C(boot_id), and C(since) when RV(locks[].holders[].since_from=owner_record)) come from
    the lock file, which anyone who may write it (its group, with the default mode C(0664)) can rewrite while the
    lock is held. A record is given to a holder only when C(/proc/locks) backs it
    (RV(locks[].owner_record.trusted=true)); otherwise the task warns and says why in
    RV(locks[].owner_record.trust_reason). Messages of the other modules that name a lock's holder (C(lock ... is
    held by pid ...)) take it from C(/proc/locks) only, never from the record.
  - A flock lock belongs to the open file, not to a process. When the process that took it has exited, the lock
    lives on in the children that inherited the descriptor (a C(flock /x.lock daemon &) whose C(flock) was
    killed); they are listed in RV(locks[].holders[].inherited_by).
  - Only reads. It takes no lock, not even for an instant, because that alone could make a C(flock -n) elsewhere
    fail; so it always reports C(changed=false).
author:
  - Lockstep maintainers (@lockstep)
extends_documentation_fragment:
  - lockstep.handoff._attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so it reports the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: linux
    details: Reads C(/proc/locks) and C(/proc/PID/), which only Linux has.
options:
  path:
    description:
      - The lock file, or a directory, as an absolute path (a relative one is refused).
      - A directory without O(patterns) is reported as a lock itself (C(flock) on a directory is allowed, and
        M(lockstep.handoff.locked_move) and flock(1) accept one).
      - A path that does not exist is reported with RV(locks[].exists=false); that is not an error. A symlink is
        followed, as flock(1) follows it.
    type: path
    required: true
  patterns:
    description:
      - Report the entries of the directory O(path) whose names match any of these shell patterns (C(*.lock)),
        instead of O(path) itself. Subdirectories are not searched.
      - Given with an O(path) that is not a directory, the task fails.
    type: list
    elements: str
notes:
  - What the user running the module may not see is reported as unknown, not as an error. Locks held by processes
    in another PID namespace (another container) do not show in C(/proc/locks) there, so such a lock is reported
    as free; another user's command line and start time are hidden when C(/proc) is mounted with C(hidepid), and
    then RV(locks[].holders[].command) and RV(locks[].holders[].since) are V(null). Use become to see more.
  - On NFS a lock taken on another client does not show in this host's C(/proc/locks); an owner record written
    on another host is therefore never called stale.
  - A snapshot - holders and waiters can change as soon as the task returns. To wait for a lock, use
    M(lockstep.handoff.locked_command) or the O(lockstep.handoff.locked_move#module:lock_timeout) of the module that needs it.
seealso:
  - module: lockstep.handoff.locked_command
  - module: lockstep.handoff.locked_move
  - name: lslocks(8)
    description: The util-linux command that lists the same locks.
    link: https://man7.org/linux/man-pages/man8/lslocks.8.html
  - name: proc_locks(5)
    description: The format of C(/proc/locks).
    link: https://man7.org/linux/man-pages/man5/proc_locks.5.html
'''

EXAMPLES = r'''
- name: Who holds the lock of the nightly import?
  lockstep.handoff.lock_info:
    path: /srv/handoff/inbox/export.csv.lock
  register: import_lock

- name: Show the holder
  ansible.builtin.debug:
    msg: >-
      {{ import_lock.locks[0].holders[0].command }} (pid {{ import_lock.locks[0].holders[0].pid }})
      holds it since {{ import_lock.locks[0].holders[0].since }}
  when: import_lock.locks[0].held

- name: Fail when a crashed holder left its owner record behind
  ansible.builtin.assert:
    that: not (import_lock.locks[0].owner_record.stale | default(false))
    fail_msg: "{{ import_lock.locks[0].owner_record }} crashed while holding the lock; check what it left half done"

- name: Every lock file of a spool directory
  lockstep.handoff.lock_info:
    path: /srv/handoff/inbox
    patterns: ["*.lock"]
  register: spool

- name: List the held ones
  ansible.builtin.debug:
    msg: "{{ spool.locks | selectattr('held') | map(attribute='path') | list }}"

- name: A directory used as a lock (flock /var/spool/app sh -c ...)
  lockstep.handoff.lock_info:
    path: /var/spool/app
'''

RETURN = r'''
locks:
  description:
    - One entry per lock reported - O(path) itself, or the entries of the directory O(path) that match
      O(patterns), sorted by name (an empty list when none matches).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The lock file (or directory).
      type: str
      sample: /srv/handoff/inbox/export.csv.lock
    exists:
      description: Whether the path exists. A missing lock cannot be held.
      type: bool
      sample: true
    held:
      description: Whether C(/proc/locks) shows a process holding the lock.
      type: bool
      sample: true
    holders:
      description: The processes holding the lock (several for shared locks), sorted by pid.
      type: list
      elements: dict
      contains:
        pid:
          description:
            - The pid C(/proc/locks) names - the process that took the lock. V(-1) for an OFD lock, which belongs
              to an open file description rather than a process.
          type: int
          sample: 4242
        command:
          description: Its command line, arguments joined by spaces; V(null) when it has exited or is hidden.
          type: str
          sample: flock -w 5 /srv/handoff/inbox/export.csv.lock mv export.csv ready/
        kind:
          description: C(FLOCK) (flock(2), flock(1)), C(POSIX) (fcntl(2), lockf(3)) or C(OFDLCK).
          type: str
          sample: FLOCK
        mode:
          description: C(WRITE) for an exclusive lock, C(READ) for a shared one.
          type: str
          sample: WRITE
        since:
          description:
            - When the lock was taken, from the owner record when it was written by this process; otherwise
              when the process started (a lock is held since then or later). RFC 3339, UTC. V(null) when
              neither can be read.
          type: str
          sample: "2026-11-23T10:00:00Z"
        since_from:
          description:
            - Where RV(locks[].holders[].since) comes from - V(owner_record) (a claim written into the lock file, given
              only when the record is trusted), V(process_start) (the kernel's start time of the process), or
              V(null) when neither could be read.
          type: str
          sample: owner_record
        holder:
          description:
            - The module that holds the lock, from its owner record when that record is trusted
              (RV(locks[].owner_record.trusted)); V(null) for other holders. A claim, not the kernel's view.
          type: str
          sample: lockstep.handoff.locked_command
        host:
          description: The host name in the trusted owner record of this holder; V(null) without one.
          type: str
          sample: web1
        boot_id:
          description: The boot id in the trusted owner record of this holder; V(null) without one.
          type: str
          sample: 3f1c6a2e-6f4d-4a5e-9a8c-2b7d1e0f9c11
        exited:
          description: Whether the process named by RV(locks[].holders[].pid) has exited while its lock lives on.
          type: bool
          sample: false
        inherited_by:
          description:
            - When the locking process has exited, or for an OFD lock - the processes that have the lock file open
              and so may hold the lock through the descriptor they inherited or share (waiters left out).
              Each has a C(pid) and a C(command). Empty otherwise.
          type: list
          elements: dict
          sample: [{"pid": 4250, "command": "sleep 600"}]
    waiters:
      description:
        - The processes blocked waiting for the lock (C(->) lines of C(/proc/locks)), sorted by pid, with the same
          keys as RV(locks[].holders); RV(locks[].holders[].since) is when the waiting process started.
      type: list
      elements: dict
      sample: [{"pid": 4300, "command": "flock -w 60 /srv/handoff/inbox/export.csv.lock true", "kind": "FLOCK",
                "mode": "WRITE", "since": "2026-11-23T10:00:07Z", "since_from": "process_start", "holder": null,
                "host": null, "boot_id": null, "exited": false, "inherited_by": []}]
    owner_record:
      description:
        - The owner record in the lock file as read (every field a claim of whoever last wrote the file), plus
          RV(locks[].owner_record.stale), RV(locks[].owner_record.trusted) and RV(locks[].owner_record.trust_reason),
          which this module adds; V(null) when the file holds none (a free lock after a clean release, a lock of
          flock(1), a directory).
      type: dict
      sample: {"host": "web1", "pid": 4242, "boot_id": "3f1c6a2e-6f4d-4a5e-9a8c-2b7d1e0f9c11",
               "since": "2026-11-23T10:00:00Z", "holder": "lockstep.handoff.locked_move", "stale": false,
               "trusted": true, "trust_reason": "its pid 4242 holds the lock according to /proc/locks; holder and since
               are what was last written into the lock file, which anyone who may write that file could have changed"}
      contains:
        host:
          description: The host name of the process that wrote the record.
          type: str
          sample: web1
        pid:
          description: Its pid.
          type: int
          sample: 4242
        boot_id:
          description: The boot id of that host when the record was written.
          type: str
          sample: 3f1c6a2e-6f4d-4a5e-9a8c-2b7d1e0f9c11
        since:
          description: When it took the lock, RFC 3339, UTC.
          type: str
          sample: "2026-11-23T10:00:00Z"
        holder:
          description: The module that took the lock.
          type: str
          sample: lockstep.handoff.locked_move
        stale:
          description:
            - V(true) when the record was written on this host by a process that does not hold the lock now, or
              before the last reboot - the trace of a holder that crashed (a clean release clears the record).
            - V(false) while its writer holds the lock, and always for a record written on another host (a lock file
              on NFS), whose holders this host cannot see.
          type: bool
          sample: false
        trusted:
          description:
            - V(true) when the kernel backs the record - it was written on this host since its last boot, its pid holds
              the lock according to C(/proc/locks), and its C(since) is not before that process started. Only then are
              its C(holder) and C(since) shown for the holder.
            - V(false) otherwise - a record left by a crashed holder, one from another host (NFS), or one rewritten by
              someone else who may write the lock file; with the lock held, the task also warns.
            - Even a trusted record's C(holder) and C(since) are what was last written into the file.
          type: bool
          sample: true
        trust_reason:
          description: Why the record is or is not trusted, in a sentence.
          type: str
          sample: "its pid 1 does not hold the lock according to /proc/locks (the lock is held by pid 4242): the trace
            of a holder that crashed, or written by someone else who may write the lock file"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._lock.info import LockInfo
from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend


def argument_spec():
    """The options DOCUMENTATION describes; no lock is taken, so no lock options."""
    return dict(
        path=dict(type='path', required=True),
        patterns=dict(type='list', elements='str'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_backend(module, LockInfo)


if __name__ == '__main__':
    main()
