# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each module's RETURN documentation against what it really returns, in its main scenarios.

One playbook runs every module the ways users run it - fresh, unchanged,
changed, check mode, a failed validate, a directory src, a drain, lock states -
and the ``result_log`` callback records each result. Every key a result holds
must be documented (beyond the keys Ansible adds to any result), and every key
documented as ``returned: always`` must be there in each result that did not fail.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.ansible_run import run_playbook, write_playbook
from tests.support.fleet_runs import ResultLog

MODULES_DIR = Path(__file__).resolve().parents[2] / 'plugins' / 'modules'
# Keys Ansible itself gives a result, whatever the module (the *_lines beside any stdout and stderr).
STANDARD_KEYS = {'changed', 'failed', 'msg', 'invocation', 'diff', 'warnings', 'deprecations', 'exception',
                 'skipped', 'skip_reason', 'stdout_lines', 'stderr_lines'}

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    w: "{{ work }}"
  tasks:
    - name: setup | directories
      ansible.builtin.file:
        path: "{{ w }}/{{ item }}"
        state: directory
        mode: "0755"
      loop: [in, out, sets, drained, locks]

    - name: atomic_upload | check mode, fresh
      lockstep.handoff.atomic_upload: &one
        content: "one\\n"
        dest: "{{ w }}/in/one.txt"
      check_mode: true
      diff: true
    - name: atomic_upload | check mode, directory not made yet
      lockstep.handoff.atomic_upload:
        content: "one\\n"
        dest: "{{ w }}/not-made/one.txt"
      check_mode: true
    - name: atomic_upload | fresh
      lockstep.handoff.atomic_upload: *one
    - name: atomic_upload | unchanged
      lockstep.handoff.atomic_upload: *one
    - name: atomic_upload | changed, with a backup
      lockstep.handoff.atomic_upload:
        content: "one, again\\n"
        dest: "{{ w }}/in/one.txt"
        backup: true
      diff: true
    - name: atomic_upload | failed validate
      lockstep.handoff.atomic_upload:
        content: "bad\\n"
        dest: "{{ w }}/in/bad.txt"
        validate: /bin/grep -q good %s
      ignore_errors: true
    - name: atomic_upload | directory src, check mode
      lockstep.handoff.atomic_upload: &tree
        src: "{{ tree }}"
        dest: "{{ w }}/sets/tree"
      check_mode: true
    - name: atomic_upload | directory src
      lockstep.handoff.atomic_upload: *tree
    - name: atomic_upload | directory src, unchanged
      lockstep.handoff.atomic_upload: *tree
    - name: atomic_upload | second file for the drain
      lockstep.handoff.atomic_upload:
        content: "two\\n"
        dest: "{{ w }}/in/two.txt"

    - name: wait_for_marker | ready
      lockstep.handoff.wait_for_marker:
        path: "{{ w }}/in/one.txt"
        timeout: 10
    - name: wait_for_marker | ready set
      lockstep.handoff.wait_for_marker:
        path: "{{ w }}/sets/tree"
        timeout: 10
    - name: wait_for_marker | check mode, not there
      lockstep.handoff.wait_for_marker:
        path: "{{ w }}/in/never.txt"
        timeout: 600
      check_mode: true
    - name: wait_for_marker | absent
      lockstep.handoff.wait_for_marker:
        path: "{{ w }}/in/never.txt"
        state: absent
        timeout: 10

    - name: locked_move | check mode
      lockstep.handoff.locked_move:
        src: "{{ w }}/in/one.txt"
        dest: "{{ w }}/out/one.txt"
      check_mode: true
    - name: locked_move | file
      lockstep.handoff.locked_move: &move
        src: "{{ w }}/in/one.txt"
        dest: "{{ w }}/out/one.txt"
    - name: locked_move | file, already moved
      lockstep.handoff.locked_move: *move
    - name: locked_move | drain, check mode
      lockstep.handoff.locked_move: &drain
        src: "{{ w }}/in"
        dest: "{{ w }}/drained"
      check_mode: true
    - name: locked_move | drain
      lockstep.handoff.locked_move: *drain
    - name: locked_move | drain of a set, under one lock
      lockstep.handoff.locked_move:
        src: "{{ w }}/sets/tree"
        dest: "{{ w }}/drained/tree"
        lock_path: "{{ w }}/locks/tree.lock"
        create_parents: true

    - name: locked_command | runs
      lockstep.handoff.locked_command:
        argv: [/bin/echo, hello]
        lock_path: "{{ w }}/locks/command.lock"
    - name: locked_command | check mode
      lockstep.handoff.locked_command:
        argv: [/bin/echo, hello]
        lock_path: "{{ w }}/locks/command.lock"
      check_mode: true

    - name: lock_info | free, held and absent
      lockstep.handoff.lock_info:
        path: "{{ w }}/locks"
    - name: lock_info | a lock file that does not exist
      lockstep.handoff.lock_info:
        path: "{{ w }}/locks/none.lock"
"""


def documented(module):
    """The RETURN documentation of ``module``, parsed."""
    tree = ast.parse((MODULES_DIR / ('%s.py' % module)).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'RETURN':
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no RETURN' % module)


def undocumented(value, docs, where):
    """``where.key`` of every key in ``value`` (a dict, or a list of dicts) that ``docs`` does not describe."""
    found = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        for key, sub in item.items():
            if key not in docs:
                found.append('%s.%s' % (where, key))
            elif docs[key].get('contains') and sub is not None:
                found.extend(undocumented(sub, docs[key]['contains'], '%s.%s' % (where, key)))
    return found


@pytest.fixture(scope='module')
def results(tmp_path_factory, localhost_inventory):
    """``[(task name, result)]`` of every module task of the playbook."""
    tmp_path = tmp_path_factory.mktemp('return-docs')
    work = tmp_path / 'work'
    tree = tmp_path / 'tree'
    (tree / 'sub').mkdir(parents=True)
    (tree / 'a.csv').write_text('a\n')
    (tree / 'sub' / 'b.csv').write_text('b\n')
    (work / 'locks').mkdir(parents=True)
    (work / 'locks' / 'free.lock').write_text('')
    holder = subprocess.Popen(['flock', str(work / 'locks' / 'held.lock'), 'sleep', '300'])  # pylint: disable=consider-using-with
    log = ResultLog(tmp_path / 'results.jsonl')
    try:
        run = run_playbook(write_playbook(PLAYBOOK, tmp_path), localhost_inventory,
                           extra_vars={'work': str(work), 'tree': str(tree)}, env=log.env())
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return [(record['task'], dict(record['result'], failed=record['status'] == 'failed'))
            for record in log.records() if not record['task'].startswith('setup')]


def test_every_scenario_ran(results):
    names = [name for name, dummy in results]
    assert len(names) == PLAYBOOK.count('- name: ') - 1, names


def test_every_returned_key_is_documented(results):
    for name, result in results:
        module = name.split(' | ')[0]
        docs = documented(module)
        extra = undocumented({key: value for key, value in result.items() if key not in STANDARD_KEYS}, docs, module)
        assert not extra, '%s returned undocumented keys %s: %s' % (name, extra, result)


def test_every_key_returned_always_is_there_unless_the_task_failed(results):
    for name, result in results:
        if result.get('failed'):
            continue
        docs = documented(name.split(' | ')[0])
        missing = sorted(key for key, doc in docs.items() if doc.get('returned') == 'always' and key not in result)
        assert not missing, '%s lacks %s, documented as always returned: %s' % (name, missing, result)


def by_name(results, name):
    return next(result for task, result in results if task == name)


def test_sizes_are_those_of_the_data(results):
    """Not the 4096 of a directory that Ansible's path information would put there."""
    assert by_name(results, 'atomic_upload | directory src')['size'] == 4
    assert by_name(results, 'wait_for_marker | ready set')['size'] == 4
    drained = by_name(results, 'locked_move | drain')
    assert 'size' not in drained and drained['lock_path'] is None
    assert by_name(results, 'locked_move | drain of a set, under one lock')['lock_path'].endswith('/locks/tree.lock')


def test_check_mode_move_names_the_data_it_would_move(results):
    checked, moved = by_name(results, 'locked_move | check mode'), by_name(results, 'locked_move | file')
    assert checked['sha256'] == moved['sha256'] and checked['size'] == moved['size'] == len('one, again\n')


def test_a_failed_validate_returns_what_the_validator_said(results):
    failed = by_name(results, 'atomic_upload | failed validate')
    assert failed['failed'] and failed['rc'] == 1 and failed['stdout'] == '' and failed['stderr'] == ''
