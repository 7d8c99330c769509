# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the lock options shared by the modules that take a lock."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  lock_path:
    description:
      - The lock file to hold while the hand-off step runs.
      - Defaults to O(dest) with C(.lock) appended.
      - Any path may be given, a directory too (with O(lock_type=flock)). It is created with mode 0664 (whatever the umask)
        when missing, and never deleted, so that processes waiting on it keep locking the same inode.
      - Give the same path to every producer and consumer that must exclude each other, including shell
        scripts using C(flock /that/path ...); a glob-read directory (C(conf.d/), C(/etc/cron.d)) is
        a bad home for it.
    type: path
  lock_type:
    description:
      - V(flock) takes a C(flock(2)) lock, the kind util-linux C(flock(1)) takes, so a cron job doing
        C(flock /srv/in/x.lock mv ...) and this module exclude each other. Local filesystems only.
      - V(fcntl) takes a POSIX record lock (C(fcntl(2)) C(F_SETLK)), the kind NFS servers honour.
        It does not exclude C(flock(1)) holders; it needs a regular lock file, not a directory.
    type: str
    choices: [flock, fcntl]
    default: flock
  lock_timeout:
    description:
      - Seconds to wait for the lock; fractions allowed.
      - V(0) makes one attempt and fails at once when the lock is held, like C(flock -n).
      - On timeout the task fails with a message naming the lock and, where C(/proc/locks) shows it, the
        holder's pid and command line.
    type: float
    default: 30
'''
