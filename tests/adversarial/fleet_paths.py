# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The raced write paths end to end: one playbook task per path, looped over the trials, on one alias per
connection variant (with and without become), each alias in a directory of its own below the inbox."""

from __future__ import annotations

# path -> (what the racer swaps, the task YAML (``t`` is the trial, ``here`` the trial's shared directory),
#          the file the task publishes below ``here``, whether a marker beside it must describe it)
_UPLOAD = ('temp:create,close_write', 'markertemp:create,close_write')
FLEET_PATHS = {
    'upload_file': (_UPLOAD, """
      lockstep.handoff.atomic_upload:
        src: "{{ work }}/payloads/{{ t }}"
        dest: "{{ here }}/data.bin"
        mode: "0640"
        lock_timeout: 5""", 'data.bin', True),
    'upload_directory_set': (_UPLOAD, """
      lockstep.handoff.atomic_upload:
        src: "{{ work }}/tree/"
        dest: "{{ here }}/set"
        mode: "0640"
        lock_timeout: 5""", None, False),
    'upload_list_set': (_UPLOAD, """
      lockstep.handoff.atomic_upload:
        src: ["{{ work }}/tree/c.txt", "{{ work }}/tree/sub/a.txt", "{{ work }}/tree/sub/b.txt"]
        dest: "{{ here }}/set"
        mode: "0640"
        lock_timeout: 5""", None, False),
    'move_cross_device': (_UPLOAD, """
      lockstep.handoff.locked_move:
        src: "{{ work }}/xsrc/{{ inventory_hostname }}/{{ t }}/data.bin"
        dest: "{{ here }}/data.bin"
        lock_timeout: 5""", 'data.bin', False),
    'move_marker': (('marker:close_nowrite', 'markertemp:create,close_write'), """
      lockstep.handoff.locked_move:
        src: "{{ here }}/data.bin"
        dest: "{{ here }}/out/data.bin"
        marker: move
        lock_timeout: 5""", 'out/data.bin', False),
    'handoff_publish': (_UPLOAD, """
      ansible.builtin.command:
        argv: [bash, "{{ work }}/handoff.sh", publish, "{{ work }}/payloads/{{ t }}", "{{ here }}/data.bin"]""",
                        'data.bin', True),
    'handoff_move': (_UPLOAD, """
      ansible.builtin.command:
        argv: [bash, "{{ work }}/handoff.sh", move, "{{ work }}/xsrc/{{ inventory_hostname }}/{{ t }}/data.bin",
               "{{ here }}/data.bin"]""", 'data.bin', False),
}
SET_FILES = ('c.txt', 'sub/a.txt', 'sub/b.txt')

PLAYBOOK = """
- name: Race {path}
  hosts: adversarial
  gather_facts: false
  tasks:
    - name: Trial
      vars:
        t: "t{{{{ '%03d' % item }}}}"
        here: "{{{{ inbox }}}}/{{{{ inventory_hostname }}}}/{{{{ t }}}}"
      environment:
        HANDOFF_LOCK_TIMEOUT: "5"
      loop: "{{{{ range(trials | int) | list }}}}"
      timeout: {timeout}
      ignore_errors: true
{task}
"""
# A trial still running after this many seconds is hung: Ansible then fails it with one of these messages.
TASK_TIMEOUT = 20
HUNG = ('Timed out after %d second' % TASK_TIMEOUT, 'in the expected time frame')


def playbook(path):
    dummy, task, dummy, dummy = FLEET_PATHS[path]
    return PLAYBOOK.format(path=path, timeout=TASK_TIMEOUT, task=task.lstrip('\n'))
