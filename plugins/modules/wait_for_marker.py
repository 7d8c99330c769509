#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: wait_for_marker
short_description: Wait until a producer has marked a file complete (or until the marker is consumed)
version_added: 0.1.0
description:
  - Waits on the target until the done marker of O(path) exists, says C(complete), and describes the data beside
    it (size, and sha256 when the marker has one and O(verify_checksum) is on). Then it returns the parsed marker.
  - Wakes on inotify events in the directories of the data and the marker, so a marker renamed into place is
    seen within milliseconds; O(sleep) is the interval of the safety re-check (and of polling where inotify is
    not available, for example on NFS).
  - A marker in state C(failed) fails the task at once with the producer's reason, instead of at the timeout.
  - At the timeout the task fails with what it saw last - no data, data without marker, a malformed marker,
    or a marker whose size or checksum disagrees with the data.
  - With O(state=absent) it waits until the marker is gone, that is until a consumer took the file.
  - Accepts an empty marker (C(touch NAME.done), as legacy shell producers write) as complete without checksum,
    unless O(require_checksum) is set.
  - A manifest marker (written by M(lockstep.handoff.atomic_upload) for a directory O(lockstep.handoff.atomic_upload#module:src))
    describes a whole directory - give that directory as O(path); its manifest is C(PATH.done). The directory is
    ready when every file the manifest lists exists as a regular file below it with the listed size, and the listed
    sha256 when O(verify_checksum) is on. RV(sha256) is then that of the whole set, and RV(marker) holds the file
    list and the set's total size.
  - With O(paths), many files (or sets) are awaited in one module run, with one O(timeout) for all of them; each path
    gets its result in RV(results), and at the timeout the task fails naming every path not ready, with what was
    seen last. In check mode each path is looked at once.
author:
  - Lockstep maintainers (@lockstep)
extends_documentation_fragment:
  - lockstep.handoff._attributes
  - lockstep.handoff.marker_check
  - lockstep.handoff.redis
  - lockstep.handoff.state_dir
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module looks once and never waits, as the producer's task it would wait for changed nothing
        in check mode either. A state that does not hold yet is reported in RV(msg) with C(ok) instead of failing
        at the timeout; a C(failed) marker still fails the task.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description:
      - The data file whose marker is awaited.
      - Or the directory of a set of files described by a manifest marker (see the description).
      - Required unless O(paths) is given.
    type: path
  paths:
    description:
      - Several data files (or set directories) to wait for in one module run, instead of O(path).
      - Their markers are where O(state_dir) says (O(marker_path) cannot be given with a list); every other option
        applies to each path. One O(timeout) for all of them - the run ends when every path is ready (or its producer
        marked it failed) or at the timeout, and fails naming each path that is not ready.
      - Cannot be combined with O(redis_state_host).
    type: list
    elements: path
  state:
    description:
      - V(present) waits for a complete marker that describes the data.
      - V(absent) waits until the marker no longer exists.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description:
      - Seconds to wait before failing; fractions allowed. V(0) looks once. At most 31622400 (366 days); C(nan),
        C(inf) and negative values are refused.
    type: float
    default: 300
  sleep:
    description:
      - Seconds between two looks when no inotify event arrives; more than 0 and at most 86400 (a day).
    type: float
    default: 1
  newer_than_generation:
    description:
      - Wait for a marker whose C(generation) is greater than this number, to tell a new version of the same file
        from the one already seen (use the RV(generation) of an earlier run).
    type: int
  stable_for:
    description:
      - For producers that write no marker (a third-party drop) - when no marker exists, accept the data file once its
        size, mtime and inode have stayed the same for this many seconds, watched by this task on the target.
      - B(Weaker than a marker.) A writer that stalls for longer than O(stable_for) (a slow network, a paused
        process) looks finished; equal size and mtime do not prove equal content; a writer that preallocates the
        full size is invisible. Prefer markers, and keep this for producers you cannot change.
      - A marker that appears is judged as usual and wins; a C(failed) marker still fails the task at once.
      - Only with O(state=present). Can be combined with O(min_age).
    type: float
  min_age:
    description:
      - For producers that write no marker - when no marker exists, accept the data file only once its mtime is at
        least this many seconds in the past, by the target's clock (the controller's clock plays no part).
      - Alone it trusts the producer to finish within O(min_age); together with O(stable_for) both must hold.
    type: float
  redis_state_host:
    description:
      - Wait for O(path) on this inventory host through the state that
        M(lockstep.handoff.atomic_upload) with O(lockstep.handoff.atomic_upload#module:redis_state=true) mirrors into
        Redis (the server named by the C(redis_*) options), instead of watching the file - for a consumer on another
        host, or on the controller (C(delegate_to=localhost)), that cannot see it.
      - Blocks in Redis (C(XREAD BLOCK) on the state's stream, from the newest entry on) - no polling, and a state
        recorded while the task starts is not missed. A V(failed) state fails the task at once with the producer's
        reason; V(running) keeps waiting.
      - When the connection to Redis breaks (a restart, a failover), the task reconnects with growing pauses of at
        most a second until O(timeout), then reads the newest state again, so a state recorded meanwhile is seen.
        Redis down for the rest of O(timeout) fails the task naming the server. States survive a restart only when
        Redis persists them (C(appendonly yes)); after a loss, the producer's next run records its marker again.
      - The data file is not seen from here - O(verify_checksum) does not apply; check the returned RV(sha256) where
        the file is taken. O(state=absent), O(stable_for) and O(min_age) cannot be used; O(sleep) is not used.
    type: str
seealso:
  - module: lockstep.handoff.atomic_upload
  - module: lockstep.handoff.locked_move
  - module: ansible.builtin.wait_for
'''

EXAMPLES = r'''
- name: Wait up to 10 minutes for the nightly export
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/export.csv
    timeout: 600
  register: export

- name: Show what the producer said
  ansible.builtin.debug:
    msg: "{{ export.size }} bytes, sha256 {{ export.sha256 }}, written {{ export.marker.written_at }}"

- name: Accept only markers with a checksum (no legacy touch markers)
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/app.tar.gz
    require_checksum: true

- name: Wait for a marker a producer keeps in a .handoff/ subdirectory (/etc/nginx/conf.d/.handoff/site.conf.done)
  lockstep.handoff.wait_for_marker:
    path: /etc/nginx/conf.d/site.conf
    state_dir: .handoff

- name: Wait for a newer version than the one already processed
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/report.csv
    newer_than_generation: "{{ last_generation | int }}"

- name: A third-party drop with no marker - take it once it stopped changing for 30 s
  lockstep.handoff.wait_for_marker:
    path: /srv/drop/vendor-feed.xml
    stable_for: 30
    min_age: 60
    timeout: 3600
  register: feed

- name: Wait for a whole directory published as one set (manifest /srv/handoff/inbox/reports.done)
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/reports
  register: reports

- name: List the files the manifest describes
  ansible.builtin.debug:
    msg: "{{ reports.marker.files | map(attribute='path') | list }}"

- name: On the controller, wait for a file published on web1 (atomic_upload with redis_state=true)
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/outbox/app.tar.gz
    redis_state_host: web1
    redis_host: redis.internal.example.com
    redis_password: "{{ vault_redis_password }}"
    timeout: 600
  delegate_to: localhost
  register: published       # published.sha256, published.generation

- name: Wait for several files at once - one module run, one timeout for all of them
  lockstep.handoff.wait_for_marker:
    paths:
      - /srv/handoff/inbox/nginx.conf
      - /srv/handoff/inbox/site.conf
    state_dir: .handoff
    timeout: 600
  register: configs          # configs.results[i].status, .sha256, .generation per path

- name: Wait until a consumer has taken the file
  lockstep.handoff.wait_for_marker:
    path: /srv/handoff/inbox/app.tar.gz
    state: absent
    timeout: 120
'''

RETURN = r'''
msg:
  description:
    - In check mode, which looks once, why the wanted state does not hold yet (a real run would wait).
    - With O(paths), how many paths reached the wanted state; on failure, each path that did not, and why.
  returned: in check mode when the wanted state does not hold yet, and when O(paths) is given
  type: str
  sample: "check mode looks once instead of waiting (a real run waits up to 300.0s): neither the data file
    /srv/handoff/inbox/app.tar.gz nor its marker /srv/handoff/inbox/app.tar.gz.done exists yet"
path:
  description: The data file.
  returned: when O(path) is given
  type: str
  sample: /srv/handoff/inbox/export.csv
marker_path:
  description: The marker that was awaited (V(null) with O(redis_state_host), where Redis mirrors it).
  returned: when O(path) is given
  type: str
  sample: /srv/handoff/inbox/export.csv.done
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 0.013
watch:
  description: How changes were noticed - V(inotify), V(poll) every O(sleep) seconds, or V(redis) (O(redis_state_host)).
  returned: always
  type: str
  sample: inotify
marker:
  description: 'The parsed marker (an empty legacy marker is returned as C({"state": "complete", "legacy": true})),
    or V(null) when O(stable_for) or O(min_age) accepted a file that has none.'
  returned: when O(path) is given and O(state=present)
  type: dict
  sample: {"protocol": "lockstep.handoff/1", "state": "complete", "size": 42, "generation": 1,
           "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
           "written_at": "2026-11-23T10:00:00Z", "producer": "lockstep.handoff.atomic_upload on h1"}
sha256:
  description: The sha256 of the data (computed when verified, else the marker's), or V(null) for a legacy marker.
  returned: when O(path) is given and O(state=present)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: The size of the data file in bytes. For a directory (a set), Ansible reports the directory's own size
    here, as for any path; the set's total is in RV(marker).
  returned: when O(path) is given and O(state=present)
  type: int
  sample: 42
ready_by:
  description: What made the file ready - V(marker), or V(stability) (no marker; O(stable_for)/O(min_age) held).
  returned: when O(path) is given and O(state=present)
  type: str
  sample: marker
generation:
  description: The marker's generation, or V(null) when it has none.
  returned: when O(path) is given and O(state=present) and a marker made the file ready
  type: int
  sample: 1
redis_state_key:
  description: The Redis stream that was followed.
  returned: with O(redis_state_host)
  type: str
  sample: "lockstep:handoff:state:web1:/srv/handoff/outbox/app.tar.gz"
redis_reconnects:
  description: How many times the connection to Redis broke and was made again while waiting.
  returned: with O(redis_state_host)
  type: int
  sample: 0
results:
  description:
    - With O(paths), one entry per path, in the order given - the keys a task with that O(path) returns (RV(path),
      RV(marker_path), RV(marker), RV(sha256), RV(size), RV(generation), ...) and C(status), C(failed) and C(msg).
    - C(status) is V(ready) (the wanted state holds), V(not_ready) (check mode looked once and it does not hold yet)
      or V(failed) (timed out, or the producer marked it failed; C(msg) says why).
  returned: when O(paths) is given
  type: list
  elements: dict
  sample: [{"path": "/srv/handoff/inbox/a.conf", "marker_path": "/srv/handoff/inbox/.handoff/a.conf.done",
            "status": "ready", "failed": false, "msg": "/srv/handoff/inbox/.handoff/a.conf.done is present",
            "size": 42, "generation": 3, "ready_by": "marker",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockstep.handoff.plugins.module_utils._observe import marker_check_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import state_dir_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.options import redis_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._runner import run_backend
from ansible_collections.lockstep.handoff.plugins.module_utils._wait import Wait, WaitForEach

# One path, or a list of them with markers where state_dir says; a list is watched here, not through Redis.
ARGUMENT_RULES = dict(
    required_one_of=[('path', 'paths')],
    mutually_exclusive=[('path', 'paths'), ('marker_path', 'paths'), ('redis_state_host', 'paths')],
)


def argument_spec():
    """The options DOCUMENTATION describes: the wait's own, how a marker is judged, and how to reach Redis."""
    spec = dict(
        path=dict(type='path'),
        paths=dict(type='list', elements='path'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        timeout=dict(type='float', default=300.0),
        sleep=dict(type='float', default=1.0),
        newer_than_generation=dict(type='int'),
        stable_for=dict(type='float'),
        min_age=dict(type='float'),
        redis_state_host=dict(type='str'),
    )
    spec.update(marker_check_argument_spec())
    spec.update(state_dir_argument_spec())
    spec.update(redis_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **ARGUMENT_RULES)
    run_backend(module, Wait if module.params['paths'] is None else WaitForEach)


if __name__ == '__main__':
    main()
