#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: locked_command
short_description: Run a command on the target while holding a lock that flock(1) honours
version_added: 0.1.0
description:
  - The general mutex - takes the lock O(lock_path) (waiting up to O(lock_timeout)), judges O(creates) and
    O(removes), runs the command, and releases the lock when the command has ended. Two tasks, two hosts of a
    play delegating to one host, a cron job doing C(flock /that/path ...) or M(lockstep.handoff.locked_move) with
    the same O(lock_path) never run their critical sections at the same time.
  - The command is given as O(cmd) (split into arguments like a shell would, with Python's C(shlex.split)) or as
    O(argv), and is run without a shell - no pipes, redirections, globbing, or expansion of C($VARS) and C(~).
    To use shell features, run C(sh -c '...') explicitly.
  - Like M(ansible.builtin.command) it returns the exit status and output, and fails when the command exits
    with a status other than 0 (the lock is released first).
  - The command runs while this module holds the lock, but it does not hold the lock itself - the lock's
    descriptor is close-on-exec, unlike with flock(1) without C(-o). So background processes the command leaves
    behind do not keep the lock after the task; and the command must not take the same lock itself (a script
    doing C(flock /that/path ...)), since it would wait for this module, which waits for it.
  - The command runs in a process group (a session) of its own. When the controller goes away while it runs (a
    cancelled AWX or ansible-runner job, a killed C(ansible-playbook)), the module sends the group SIGTERM, then
    SIGKILL after 5 seconds, and exits, releasing the lock within seconds instead of when the command would have
    ended. See R(Cancelling,ansible_collections.lockstep.handoff.docsite.awx) for what a cancel reaches.
author:
  - Lockstep maintainers (@lockstep)
extends_documentation_fragment:
  - lockstep.handoff._attributes
  - lockstep.handoff.lock
  - lockstep.handoff.redis
attributes:
  check_mode:
    support: partial
    details:
      - In check mode nothing runs and no lock is taken (that would create the lock file). The task reports
        C(changed=true) when the command would run, judged by O(creates) and O(removes) without the lock.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  lock_path:
    description:
      - The lock file to hold while the command runs. Required - there is no file to derive it from.
      - Any path may be given, a directory too (with O(lock_type=flock)). It is created with mode 0664 (whatever the
        umask) when missing, and never deleted, so that processes waiting on it keep locking the same inode.
        Its directory must exist. A symlink is refused.
      - An existing file with other content is locked but never written - a data file may be its own lock, as with
        C(flock balance.dat ./update.sh); only an empty lock file (or one holding an owner record) gets the owner
        record that M(lockstep.handoff.lock_info) shows.
      - Give the same path to every task and script that must exclude this one, including shell scripts using
        C(flock /that/path ...).
    type: path
    required: true
  lock_shared:
    description:
      - V(false) takes an exclusive lock and runs the command alone (C(flock -x), what flock(1) does by default).
        Only an exclusive holder writes an owner record into the lock file, which M(lockstep.handoff.lock_info) shows.
      - V(true) takes a shared lock (C(flock -s)) - other shared holders run at the same time, exclusive ones are
        kept out. Readers run together, a writer runs alone.
      - Not to be confused with O(lock_mode), the file mode of a lock file this module creates.
    type: bool
    default: false
  cmd:
    description:
      - The command and its arguments as one string, split like a shell would split it (quotes respected), and
        run without a shell.
      - Exactly one of O(cmd) and O(argv) is required.
    type: str
  argv:
    description:
      - The command and its arguments as a list, passed to the program exactly as given. Use it when arguments
        contain spaces or quotes.
      - Exactly one of O(cmd) and O(argv) is required.
    type: list
    elements: str
  chdir:
    description:
      - Change into this directory before running the command. It must exist, and be given as an absolute path (a
        relative one is refused).
    type: path
  creates:
    description:
      - A path or glob. When it matches something, the command is not run and the task reports C(changed=false).
      - Judged after the lock is taken, so that a second task queued behind the first sees what the first created
        and does not run the command again.
      - A relative path is taken from O(chdir), as with M(ansible.builtin.command); without O(chdir) it is refused,
        since the module's working directory on the target is nobody's choice.
    type: path
  removes:
    description:
      - A path or glob. When it matches nothing, the command is not run and the task reports C(changed=false).
      - Judged after the lock is taken, for the same reason as O(creates).
      - A relative path is taken from O(chdir); without O(chdir) it is refused, as for O(creates).
    type: path
  stdin:
    description:
      - Text fed to the command's standard input, with a newline appended, as M(ansible.builtin.command) does.
      - Without it the command reads an empty standard input (C(/dev/null)).
    type: str
notes:
  - If the module's process is killed while the command runs, the kernel releases the lock at once, while the
    command may run on; its owner record is left behind, and M(lockstep.handoff.lock_info) reports it as stale.
  - The task's output is returned when the command ends; for long commands combine with C(async).
seealso:
  - module: ansible.builtin.command
  - module: lockstep.handoff.lock_info
  - module: lockstep.handoff.locked_move
  - name: flock(1)
    description: The util-linux command whose locks this module honours.
    link: https://man7.org/linux/man-pages/man1/flock.1.html
'''

EXAMPLES = r'''
- name: Run a database migration on one node at a time, whatever else runs it
  lockstep.handoff.locked_command:
    cmd: /opt/app/bin/migrate --apply
    lock_path: /var/lock/app-migrate.lock
    lock_timeout: 300

- name: Add every host of the play to a file on one server (read, edit, write back) without losing any
  lockstep.handoff.locked_command:
    argv:
      - /bin/sh
      - -c
      - '{ cat "$2"; echo "$1"; } | sort -u > "$2.new" && mv "$2.new" "$2"'
      - sh
      - "{{ inventory_hostname }}"
      - /srv/shared/hosts.txt
    lock_path: /srv/shared/hosts.txt.lock
  delegate_to: storage1

- name: Share the lock with a cron job that runs "flock /var/lock/backup.lock backup.sh"
  lockstep.handoff.locked_command:
    cmd: /usr/local/bin/rotate-backups --keep 7
    lock_path: /var/lock/backup.lock
    lock_timeout: 0   # fail at once, naming the holder, instead of queueing behind the backup

- name: Build once; a second run waiting for the lock finds the result and skips
  lockstep.handoff.locked_command:
    cmd: make release
    chdir: /srv/build/app
    creates: dist/app.tar.gz
    lock_path: /srv/build/app/.build.lock

- name: Readers run together, a writer alone
  lockstep.handoff.locked_command:
    argv: [/usr/bin/sqlite3, /srv/data/app.db, ".backup /srv/backup/app.db"]
    lock_path: /srv/data/app.db.lock
    lock_shared: true

- name: One host of the whole fleet at a time - a Redis lease every host sees
  lockstep.handoff.locked_command:
    cmd: /opt/app/bin/rotate-shared-keys
    lock_backend: redis           # alias of lock_type
    lock_path: app/rotate-keys    # with redis only a name; the same on every host
    lock_timeout: 600
    lock_lease_ttl: 20            # a dead holder's lease is gone 20 s later at most
    redis_host: redis.internal.example.com
    redis_password: "{{ vault_redis_password }}"
    redis_tls: true
  register: rotated               # rotated.fencing_token, also in $LOCKSTEP_FENCING_TOKEN
'''

RETURN = r'''
cmd:
  description: The arguments the command was (or would be) run with.
  returned: always
  type: list
  elements: str
  sample: ["/opt/app/bin/migrate", "--apply"]
rc:
  description:
    - The command's exit status; negative when a signal killed it.
    - V(0) when it did not run (check mode, O(creates), O(removes)), as M(ansible.builtin.command) reports it.
  returned: always
  type: int
  sample: 0
stdout:
  description: The command's standard output, trailing newlines removed.
  returned: always
  type: str
  sample: "applied 3 migrations"
stderr:
  description: The command's standard error, trailing newlines removed.
  returned: always
  type: str
  sample: ""
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
  sample: ["applied 3 migrations"]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: always
  type: list
  elements: str
  sample: []
start:
  description: When the command started, local time; V(null) when it did not run.
  returned: always
  type: str
  sample: "2026-11-23 10:00:00.123456"
end:
  description: When the command ended, local time; V(null) when it did not run.
  returned: always
  type: str
  sample: "2026-11-23 10:00:02.654321"
delta:
  description: How long the command ran, as hours:minutes:seconds; V(null) when it did not run.
  returned: always
  type: str
  sample: "0:00:02.530865"
msg:
  description: What happened, in words (ran, did not run and why, would run in check mode).
  returned: always
  type: str
  sample: ran /opt/app/bin/migrate holding lock /var/lock/app-migrate.lock
lock_path:
  description: The lock that was held.
  returned: always
  type: str
  sample: /var/lock/app-migrate.lock
lock_wait:
  description: Seconds spent waiting for the lock (V(0) in check mode, where no lock is taken).
  returned: always
  type: float
  sample: 0.004
fencing_token:
  description:
    - With O(lock_type=redis), the fencing token of this holder's lease - greater than that of every holder before
      it. The command gets it in the environment variable C(LOCKSTEP_FENCING_TOKEN), to hand to a store that can
      refuse writes with an older token.
    - When the lease was lost while the command ran (the holder stalled, or Redis was unreachable for
      O(lock_lease_ttl)), the task fails, since another holder may have run at the same time.
  returned: when O(lock_type=redis) and the lock was taken
  type: int
  sample: 17
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._command import LockedCommand
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kinds import lock_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend


def argument_spec():
    """The options DOCUMENTATION describes; unlike the other modules there is no file to derive a lock path from."""
    spec = dict(
        cmd=dict(type='str'),
        argv=dict(type='list', elements='str'),
        chdir=dict(type='path'),
        creates=dict(type='path'),
        removes=dict(type='path'),
        stdin=dict(type='str'),
        lock_shared=dict(type='bool', default=False),
    )
    spec.update(lock_argument_spec())
    spec['lock_path'] = dict(type='path', required=True)
    return spec


ARGUMENT_RULES = dict(
    mutually_exclusive=[('cmd', 'argv')],
    required_one_of=[('cmd', 'argv')],
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **ARGUMENT_RULES)
    run_backend(module, LockedCommand)


if __name__ == '__main__':
    main()
