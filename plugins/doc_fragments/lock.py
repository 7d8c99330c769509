# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the lock options shared by the modules that take a lock."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  lock_path:
    description:
      - The lock file to hold while the hand-off step runs.
      - Defaults to C(NAME.lock) for O(dest) C(DIR/NAME) - beside it, or in O(state_dir) when that is given.
      - Any absolute path may be given, a directory too (with O(lock_type=flock)). A relative path, a name longer
        than the filesystem takes (NAME_MAX), and a path that is the data, its marker or one of their temp files
        (C(.NAME.<12 hex>.tmp)) are refused before anything is touched. It is created with mode 0664 (whatever the umask)
        when missing, and never deleted, so that processes waiting on it keep locking the same inode.
      - Give the same path to every producer and consumer that must exclude each other, including shell
        scripts using C(flock /that/path ...); a glob-read directory (C(conf.d/), C(/etc/cron.d)) is
        a bad home for it.
    type: path
  lock_type:
    description:
      - V(flock) takes a flock(2) lock, the kind util-linux flock(1) takes, so a cron job doing
        C(flock /srv/in/x.lock mv ...) and this module exclude each other. Local filesystems only.
      - V(fcntl) takes a POSIX record lock (fcntl(2) C(F_SETLK)), the kind NFS servers honour.
        It does not exclude flock(1) holders; it needs a regular lock file, not a directory.
      - V(redis) takes a lease in the Redis server named by the C(redis_*) options, so that processes on every host
        sharing that server exclude each other. O(lock_path) is then only the lock's name (no file is created), and
        the same path on two hosts is the same lock. The lease lasts O(lock_lease_ttl) and is renewed while the
        holder works, so a holder that dies releases it by expiry. Every acquisition gets a fencing token, a number
        greater than any before it, returned as RV(fencing_token); before replacing a file the holder checks
        atomically in Redis that its lease is still current and no newer token has published, and otherwise
        fails without touching the file. See R(Locks and shared state,ansible_collections.lockstep.handoff.docsite.locking)
        for what each kind guarantees.
    type: str
    choices: [flock, fcntl, redis]
    default: flock
    aliases: [lock_backend]
  lock_timeout:
    description:
      - Seconds to wait for the lock; fractions allowed. At most 31622400 (366 days); C(nan), C(inf) and negative
        values are refused.
      - V(0) makes one attempt and fails at once when the lock is held, like C(flock -n).
      - On timeout the task fails with a message naming the lock and, where C(/proc/locks) shows it, the
        holder's pid and command line.
    type: float
    default: 30
  lock_mode:
    description:
      - The mode of a lock file this module creates, as octal text; the file also gets the group of its directory
        (when the connecting user belongs to it), whatever the umask.
      - The default lets a second account in that group (a cron job, a shell producer) take the same lock.
      - An existing lock file is left as it is.
    type: str
    default: '0664'
  lock_on_network_fs:
    description:
      - What to do when the lock path is on a filesystem where the lock would not exclude other hosts' processes -
        NFS with O(lock_type=flock), an NFS mount with C(nolock) or C(local_lock=), SMB with O(lock_type=flock), or
        a FUSE filesystem such as sshfs. Read from C(/proc/self/mountinfo).
      - V(fail) stops with a message naming the filesystem and what to use instead; V(warn) takes the lock anyway
        and warns.
    type: str
    choices: [fail, warn]
    default: fail
  lock_lease_ttl:
    description:
      - With O(lock_type=redis), seconds the lease lives without renewal. The holder renews it every third of this
        while it works; when the holder dies (SIGKILL, host down) the next holder gets the lock at most this long
        after.
      - A holder that cannot renew for this long (Redis unreachable, process stopped) has lost the lock, and its
        write is refused by the fencing check. Keep it well above network hiccups, and short enough to wait for.
      - At least 0.1 and at most 86400 (a day); the lease is renewed while held, so a long job needs no long TTL.
      - Ignored by file locks.
    type: float
    default: 30
'''
