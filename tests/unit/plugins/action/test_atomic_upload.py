# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The atomic_upload action plugin against a recorded module: the requests it sends, phase by phase.

As ansible.posix tests its synchronize plugin: the real ActionModule with a real
Task, PlayContext and DataLoader, where only what reaches the host is replaced -
``_execute_module`` answers from a table by phase and records the module
arguments, ``_transfer_file`` records what would be sent.
"""

from __future__ import annotations

import copy
import hashlib
import io
import socket
import tarfile
import threading
from types import SimpleNamespace

import pytest
from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import shell_loader
from ansible.template import Templar

from ansible_collections.lockstep.handoff.plugins.action import atomic_upload
from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import (
    INLINE_OPTION, INLINE_UP_TO_BYTES, REQUEST_OPTION, decode_inline, parse_request)

DATA = b'listen 80;\n'
SHA = hashlib.sha256(DATA).hexdigest()
DEST = '/srv/in/site.conf'
TEMP = '/srv/in/.site.conf.0123456789ab.tmp'
REMOTE_TMP = '/home/u/.ansible/tmp/ansible-tmp-1-2'
TASK_NAME = 'publish the site'
PRODUCER = 'lockstep.handoff.atomic_upload from %s (task %r)' % (socket.gethostname(), TASK_NAME)
FILE_FIELDS = dict(size=len(DATA), producer=PRODUCER, host='web1')


class RecordedModule(atomic_upload.ActionModule):
    """The plugin with the host replaced: ``answers`` maps a phase to the module's result."""

    def __init__(self, answers, *args):
        super().__init__(*args)
        self.answers = answers
        self.module_args = []
        self.sent = []
        self.fixed_up = []

    @property
    def requests(self):
        return [args[REQUEST_OPTION] for args in self.module_args]

    def _execute_module(self, module_name=None, module_args=None, tmp=None, task_vars=None, **kwargs):
        assert module_name == 'lockstep.handoff.atomic_upload'
        self.module_args.append(copy.deepcopy(module_args))
        answer = self.answers[module_args[REQUEST_OPTION]['phase']]
        return copy.deepcopy(answer(module_args[REQUEST_OPTION]) if callable(answer) else answer)

    def _transfer_file(self, local_path, remote_path):
        with open(local_path, 'rb') as handle:
            self.sent.append((remote_path, handle.read()))
        return remote_path

    def _make_tmp_path(self, remote_user=None):
        self._connection._shell.tmpdir = REMOTE_TMP
        return REMOTE_TMP

    def _fixup_perms2(self, remote_paths, remote_user=None, execute=True):
        self.fixed_up.append(tuple(remote_paths))

    def _remove_tmp_path(self, tmp_path, force=False):
        """Nothing to remove: no remote temp directory was made."""


@pytest.fixture
def plugin():
    """``plugin(answers, check_mode=False, diff=False, become=False, **args)``: the plugin for one task."""
    def make(answers, check_mode=False, diff=False, become=False, **args):
        task = Task()
        task.action = 'lockstep.handoff.atomic_upload'
        task.name = TASK_NAME
        task.args = args
        task.check_mode = check_mode
        task.diff = diff
        play_context = PlayContext()
        play_context.become = become
        connection = SimpleNamespace(transport='ssh', _shell=shell_loader.get('sh'), has_option=lambda name: False)
        loader = DataLoader()
        return RecordedModule(answers, task, connection, play_context, loader, Templar(loader=loader), None)
    return make


@pytest.fixture
def above_inline_limit(monkeypatch):
    """A set's or list's bytes count as more than travel inside one module run: probe, archive, publish."""
    monkeypatch.setattr(atomic_upload, 'INLINE_UP_TO_BYTES', 0)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / 'site.conf'
    path.write_bytes(DATA)
    return str(path)


def run(action):
    return action.run(task_vars=dict(inventory_hostname='web1'))


def transfer(**extra):
    return dict(changed=True, action='transfer', dest=DEST, sha256=SHA, size=len(DATA), **extra)


PUBLISHED = dict(changed=True, action='transfer', dest=DEST, sha256=SHA, size=len(DATA), generation=1,
                 transfer_path='direct')


def test_fresh_file_probe_then_direct_transfer_then_publish(plugin, src):
    action = plugin(dict(probe=transfer(staging_path=TEMP, removed_temps=[]), publish=PUBLISHED), src=src, dest=DEST)
    result = run(action)
    assert action.requests == [
        dict(FILE_FIELDS, phase='probe', sha256=SHA, direct=True, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF),
        dict(FILE_FIELDS, phase='publish', sha256=SHA, direct=True, staged_path=TEMP),
    ]
    assert action.sent == [(TEMP, DATA)]
    assert (result['changed'], result['generation'], result['removed_temps']) == (True, 1, [])
    assert 'staging_path' not in result


def test_the_module_gets_the_users_options_by_name_and_one_internal_option(plugin, src):
    action = plugin(dict(probe=transfer(staging_path=TEMP), publish=PUBLISHED), src=src, dest=DEST, mode='0640',
                    lock=True, lock_backend='fcntl')
    run(action)
    for module_args in action.module_args:
        assert [name for name in module_args if name.startswith('_')] == [REQUEST_OPTION]
        assert (module_args['dest'], module_args['mode'], module_args['lock_type']) == (DEST, '0640', 'fcntl')
        assert 'lock_backend' not in module_args and module_args['content'] is None


def test_unchanged_file_costs_one_probe_and_no_transfer(plugin, src):
    action = plugin(dict(probe=dict(changed=False, action='none', dest=DEST, sha256=SHA, size=len(DATA))),
                    src=src, dest=DEST)
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe']
    assert action.sent == []
    assert (result['changed'], result['action']) == (False, 'none')


def test_changed_file_in_diff_mode_shows_old_and_new_text_and_hides_the_probes_view(plugin, src):
    probe = transfer(staging_path=TEMP, diff_before=dict(content='listen 8080;\n'))
    action = plugin(dict(probe=probe, publish=PUBLISHED), diff=True, src=src, dest=DEST)
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe', 'publish']
    assert (result['diff']['before'], result['diff']['after']) == ('listen 8080;\n', DATA.decode())
    assert 'diff_before' not in result and 'staging_path' not in result


def test_check_mode_probes_only_and_sends_nothing(plugin, src):
    action = plugin(dict(probe=transfer(transfer_path='staged')), check_mode=True, src=src, dest=DEST)
    result = run(action)
    assert action.requests == [dict(FILE_FIELDS, phase='probe', sha256=SHA, direct=True,
                                    max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF)]
    assert action.sent == []
    assert (result['changed'], result['action']) == (True, 'transfer')


def test_become_asks_for_no_direct_transfer_and_stages_in_the_remote_tmp(plugin, src):
    staged = REMOTE_TMP + '/atomic_upload.src'
    publish = dict(PUBLISHED, transfer_path='staged')
    action = plugin(dict(probe=transfer(transfer_path='staged'), publish=publish), become=True, src=src, dest=DEST)
    result = run(action)
    assert action.requests == [
        dict(FILE_FIELDS, phase='probe', sha256=SHA, direct=False, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF),
        dict(FILE_FIELDS, phase='publish', sha256=SHA, direct=False, staged_path=staged),
    ]
    assert action.sent == [(staged, DATA)]
    assert action.fixed_up == [(REMOTE_TMP, staged)]
    assert result['transfer_path'] == 'staged'


def test_content_is_sent_like_a_file(plugin):
    action = plugin(dict(probe=transfer(staging_path=TEMP), publish=PUBLISHED), content=DATA.decode(), dest=DEST)
    run(action)
    assert action.requests[1] == dict(FILE_FIELDS, phase='publish', sha256=SHA, direct=True, staged_path=TEMP)
    assert action.sent == [(TEMP, DATA)]


def test_a_probe_before_the_hash_ends_asks_again_with_the_checksum(plugin, src, monkeypatch):
    """A large source is hashed while the first probe runs; a dest of its size makes the probe ask for it."""
    first_probe_sent = threading.Event()
    real_sha256 = atomic_upload.sha256_of_path

    def slow_sha256(path):
        first_probe_sent.wait(10)
        return real_sha256(path)

    def probe(request):
        first_probe_sent.set()
        if request['sha256'] is None:
            return dict(changed=False, action='need_checksum', dest=DEST)
        return dict(changed=False, action='none', dest=DEST, sha256=SHA, size=len(DATA))

    monkeypatch.setattr(atomic_upload, 'BACKGROUND_HASH_FROM_BYTES', 0)
    monkeypatch.setattr(atomic_upload, 'sha256_of_path', slow_sha256)
    action = plugin(dict(probe=probe), src=src, dest=DEST)
    result = run(action)
    assert [request['sha256'] for request in action.requests] == [None, SHA]
    assert result['action'] == 'none' and action.sent == []


def test_a_failed_transfer_aborts_with_the_reason_and_says_what_the_host_found(plugin, src):
    aborted = dict(changed=False, temp_removed=True, reason='the disk is full', failure_marker_note=' A marker.')
    action = plugin(dict(probe=transfer(staging_path=TEMP), abort=aborted), src=src, dest=DEST)

    def failing_transfer(local_path, remote_path):
        raise AnsibleError('scp: write failed')
    action._transfer_file = failing_transfer
    with pytest.raises(AnsibleActionFail, match='transfer to /srv/in failed: the disk is full. dest /srv/in/site.conf '
                       'was not touched; the temp file was removed. A marker.'):
        run(action)
    assert action.requests[1] == dict(FILE_FIELDS, phase='abort', sha256=SHA, staged_path=TEMP,
                                      reason='scp: write failed')


FAILED_PUBLISH = dict(failed=True, changed=False, msg='validate command failed; dest was not touched', dest=DEST)


@pytest.mark.parametrize('become, probe, path', [
    (False, transfer(staging_path=TEMP), 'direct'),
    (True, transfer(transfer_path='staged'), 'staged'),
])
def test_a_publish_that_fails_after_the_bytes_were_sent_reports_which_way_they_went(
        plugin, src, become, probe, path):
    action = plugin(dict(probe=probe, publish=FAILED_PUBLISH), become=become, src=src, dest=DEST)
    result = run(action)
    assert result['failed'] is True and result['msg'] == FAILED_PUBLISH['msg']
    assert (result['transfer']['bytes_sent'], result['transfer']['path']) == (len(DATA), path)
    assert result['transfer']['ssh_compression'] is False


def test_a_misspelled_module_answer_fails_the_task_instead_of_staging_the_transfer(plugin, src):
    action = plugin(dict(probe=transfer(stagingpath=TEMP), publish=PUBLISHED), src=src, dest=DEST)
    with pytest.raises(AnsibleActionFail, match='answered phase probe with unknown field stagingpath'):
        run(action)
    assert (action.sent, len(action.requests)) == ([], 1)


def test_a_list_answer_with_a_misspelled_field_of_one_file_fails_the_task(above_inline_limit, plugin, tmp_path):
    src = tmp_path / 'a.conf'
    src.write_bytes(DATA)
    probe = dict(changed=True, action='transfer', files_changed=['0'], files=[
        dict(dest='/etc/a.conf', changed=True, action='transfer', diff_befor=dict(absent=True))])
    action = plugin(dict(probe_files=probe), files=[dict(src=str(src), dest='/etc/a.conf')])
    with pytest.raises(AnsibleActionFail, match='answered phase probe_files files item 1 with unknown field diff_befor'):
        run(action)
    assert action.sent == []


def test_a_module_answer_without_a_key_the_plugin_reads_fails_the_task_naming_it(plugin, src):
    action = plugin(dict(probe=dict(changed=True, dest=DEST)), src=src, dest=DEST)
    with pytest.raises(AnsibleActionFail, match='answered phase probe without action'):
        run(action)


def entry(name, data):
    return dict(path=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def members(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


@pytest.fixture
def tree(tmp_path):
    top = tmp_path / 'reports'
    (top / 'sub').mkdir(parents=True)
    (top / 'a.csv').write_bytes(b'a\n')
    (top / 'sub' / 'b.csv').write_bytes(b'bb\n')
    return top


SET_DEST = '/srv/in/reports'
ARCHIVE_TEMP = '/srv/in/reports/.handoff-set.tar.0123456789ab.tmp'
SET_PUBLISHED = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['sub/b.csv'],
                     transfer_path='direct')


def test_a_directory_is_one_probe_one_archive_of_the_changed_files_and_one_publish(above_inline_limit, plugin, tree):
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['sub/b.csv'],
                 staging_path=ARCHIVE_TEMP)
    action = plugin(dict(probe_set=probe, publish_set=SET_PUBLISHED), src=str(tree), dest=SET_DEST)
    result = run(action)
    files = [entry('a.csv', b'a\n'), entry('sub/b.csv', b'bb\n')]
    assert action.requests == [
        dict(phase='probe_set', files=files, producer=PRODUCER, direct=True),
        dict(phase='publish_set', files=files, producer=PRODUCER, direct=True, staged_path=ARCHIVE_TEMP,
             changed=['sub/b.csv']),
    ]
    assert [(path, members(data)) for path, data in action.sent] == [(ARCHIVE_TEMP, {'sub/b.csv': b'bb\n'})]
    assert (result['size'], result['files_changed']) == (5, ['sub/b.csv'])
    assert 'staging_path' not in result


def test_a_small_directory_is_one_module_run_carrying_every_file(plugin, tree):
    inline = dict(SET_PUBLISHED, transfer_path='inline', diff=dict(before='', after='b.csv changed\n'))
    action = plugin(dict(inline_set=inline), diff=True, src=str(tree), dest=SET_DEST)
    result = run(action)
    files = [entry('a.csv', b'a\n'), entry('sub/b.csv', b'bb\n')]
    assert action.requests == [dict(phase='inline_set', files=files, producer=PRODUCER)]
    # Every file travels (the module probes, then publishes what changed); nothing is sent as a file of its own.
    assert members(inline_bytes(action.module_args[0])) == {'a.csv': b'a\n', 'sub/b.csv': b'bb\n'}
    assert action.sent == []
    assert (result['size'], result['files_changed'], result['transfer_path']) == (5, ['sub/b.csv'], 'inline')
    assert result['diff'] == dict(before='', after='b.csv changed\n')
    assert result['transfer']['path'] == 'inline'
    assert result['transfer']['bytes_sent'] == len(inline_bytes(action.module_args[0]))


def test_an_unchanged_small_directory_is_one_module_run_that_says_nothing_was_published(plugin, tree):
    inline = dict(changed=False, action='none', dest=SET_DEST, files=2, files_changed=[])
    action = plugin(dict(inline_set=inline), src=str(tree), dest=SET_DEST)
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['inline_set']
    assert result['changed'] is False and 'transfer_path' not in result
    assert result['msg'].startswith("nothing published: dest already holds the data (the files' ")


def test_a_small_directory_in_check_mode_is_probed_and_sends_nothing(plugin, tree):
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['sub/b.csv'])
    action = plugin(dict(probe_set=probe), check_mode=True, src=str(tree), dest=SET_DEST)
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe_set']
    assert all(INLINE_OPTION not in module_args for module_args in action.module_args)
    assert action.sent == [] and result['files_changed'] == ['sub/b.csv']


def test_an_unchanged_directory_in_check_mode_is_one_probe(plugin, tree):
    probe = dict(changed=False, action='none', dest=SET_DEST, files=2, files_changed=[])
    action = plugin(dict(probe_set=probe), check_mode=True, src=str(tree), dest=SET_DEST)
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe_set']
    assert action.sent == [] and result['changed'] is False


def test_a_set_with_become_is_staged_in_the_remote_tmp(above_inline_limit, plugin, tree):
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['a.csv', 'sub/b.csv'])
    action = plugin(dict(probe_set=probe, publish_set=dict(SET_PUBLISHED, files_changed=['a.csv', 'sub/b.csv'])),
                    become=True, src=str(tree), dest=SET_DEST)
    run(action)
    staged = REMOTE_TMP + '/atomic_upload.tar'
    assert [(request['phase'], request['direct']) for request in action.requests] == [
        ('probe_set', False), ('publish_set', False)]
    assert action.requests[1]['staged_path'] == staged
    assert [(path, sorted(members(data))) for path, data in action.sent] == [(staged, ['a.csv', 'sub/b.csv'])]


def test_a_list_of_files_is_a_set_of_their_base_names(above_inline_limit, plugin, tree, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'c.csv').write_bytes(b'ccc\n')
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['b.csv', 'c.csv'],
                 staging_path=ARCHIVE_TEMP)
    action = plugin(dict(probe_set=probe, publish_set=dict(SET_PUBLISHED, files_changed=['b.csv', 'c.csv'])),
                    src=[str(other / 'c.csv'), str(tree / 'sub' / 'b.csv')], dest=SET_DEST)
    run(action)
    assert action.requests[0]['files'] == [entry('b.csv', b'bb\n'), entry('c.csv', b'ccc\n')]
    assert action.requests[1]['changed'] == ['b.csv', 'c.csv']
    assert members(action.sent[0][1]) == {'b.csv': b'bb\n', 'c.csv': b'ccc\n'}


def test_a_failed_set_transfer_aborts_the_set(above_inline_limit, plugin, tree):
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['a.csv'],
                 staging_path=ARCHIVE_TEMP)
    aborted = dict(changed=False, temp_removed=True, reason='read-only', failure_marker_note='')
    action = plugin(dict(probe_set=probe, abort_set=aborted), src=str(tree), dest=SET_DEST)

    def failing_transfer(local_path, remote_path):
        raise AnsibleError('sftp: permission denied')
    action._transfer_file = failing_transfer
    with pytest.raises(AnsibleActionFail, match='failed: read-only'):
        run(action)
    assert action.requests[1] == dict(phase='abort_set', files=action.requests[0]['files'], producer=PRODUCER,
                                      staged_path=ARCHIVE_TEMP, reason='sftp: permission denied')


def test_a_set_publish_that_fails_after_the_archive_was_sent_reports_which_way_it_went(above_inline_limit, plugin, tree):
    probe = dict(changed=True, action='transfer', dest=SET_DEST, files=2, files_changed=['a.csv'],
                 staging_path=ARCHIVE_TEMP)
    failed = dict(failed=True, changed=False, msg='publishing the set failed', dest=SET_DEST)
    result = run(plugin(dict(probe_set=probe, publish_set=failed), src=str(tree), dest=SET_DEST))
    assert result['failed'] is True and result['transfer']['bytes_sent'] > 0
    assert result['transfer']['path'] == 'direct'


def file_entry(dest, data, **options):
    """One file of a ``files`` request, as the plugin announces it."""
    return dict(dict(dest=dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), mode=None, owner=None,
                     group=None, marker_path=None, lock_path=None), **options)


def file_result(dest, action, **extra):
    return dict(dest=dest, changed=action != 'none', action=action, **extra)


LIST_FIELDS = dict(producer=PRODUCER, host='web1')
STAGED_ARCHIVE = REMOTE_TMP + '/atomic_upload.tar'


def test_a_list_of_files_is_one_probe_one_archive_of_the_changed_files_and_one_publish(above_inline_limit, plugin, src):
    probe = dict(changed=True, action='transfer', files_changed=['1'], files=[
        file_result('/etc/a.conf', 'none'), file_result('/srv/b.txt', 'transfer', diff_before={'absent': True})])
    publish = dict(changed=True, action='transfer', files_changed=[], files=[
        file_result('/etc/a.conf', 'none'), file_result('/srv/b.txt', 'transfer', generation=1)])
    action = plugin(dict(probe_files=probe, publish_files=publish), files=[
        dict(src=src, dest='/etc/a.conf', mode='0640'),
        dict(content='b\n', dest='/srv/b.txt', marker_path='/srv/.handoff/b.txt.done')], owner='app')
    result = run(action)
    files = [file_entry('/etc/a.conf', DATA, mode='0640', owner='app'),
             file_entry('/srv/b.txt', b'b\n', owner='app', marker_path='/srv/.handoff/b.txt.done')]
    assert action.requests == [
        dict(LIST_FIELDS, phase='probe_files', files=files, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF),
        dict(LIST_FIELDS, phase='publish_files', files=files, staged_path=STAGED_ARCHIVE, changed=['1']),
    ]
    assert [(path, members(data)) for path, data in action.sent] == [(STAGED_ARCHIVE, {'1': b'b\n'})]
    assert (result['changed'], result['files_changed'], result['transfer_path']) == (True, ['/srv/b.txt'], 'staged')
    assert result['files'][1]['generation'] == 1 and 'diff_before' not in result['files'][1]
    for module_args in action.module_args:
        assert (module_args['dest'], module_args['files'], module_args['content']) == (None, None, None)


def test_a_list_publish_that_fails_after_the_archive_was_sent_reports_it_staged(above_inline_limit, plugin, src):
    probe = dict(changed=True, action='transfer', files_changed=['0'], files=[file_result('/srv/b.txt', 'transfer')])
    failed = dict(failed=True, changed=False, msg='publishing the files failed')
    result = run(plugin(dict(probe_files=probe, publish_files=failed), files=[dict(content='b\n', dest='/srv/b.txt')]))
    assert result['failed'] is True and result['transfer']['bytes_sent'] > 0
    assert result['transfer']['path'] == 'staged'


def test_an_unchanged_list_costs_one_probe_and_sends_nothing(above_inline_limit, plugin, src):
    probe = dict(changed=False, action='none', files_changed=[], files=[file_result('/etc/a.conf', 'none')])
    action = plugin(dict(probe_files=probe), files=[dict(src=src, dest='/etc/a.conf')])
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe_files']
    assert action.sent == [] and result['changed'] is False and 'transfer_path' not in result


def test_a_list_in_check_and_diff_mode_probes_only_and_shows_each_changed_file(plugin, src):
    probe = dict(changed=True, action='transfer', files_changed=['0'], files=[
        file_result('/etc/a.conf', 'transfer', diff_before={'content': 'old\n'})])
    action = plugin(dict(probe_files=probe), check_mode=True, diff=True, files=[dict(src=src, dest='/etc/a.conf')])
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe_files'] and action.sent == []
    assert result['diff'] == [dict(before_header='/etc/a.conf', after_header='/etc/a.conf', before='old\n',
                                   after=DATA.decode())]


def test_a_file_that_fails_fails_the_task_naming_it_and_the_others_are_published(above_inline_limit, plugin, src):
    probe = dict(changed=True, action='transfer', files_changed=['1'], files=[
        dict(dest='/nope/a.conf', failed=True, changed=False, msg='the directory of dest does not exist'),
        file_result('/srv/b.txt', 'transfer')])
    publish = dict(changed=True, action='transfer', files_changed=[], files=[
        dict(dest='/nope/a.conf', changed=False, action='none'), file_result('/srv/b.txt', 'transfer')])
    action = plugin(dict(probe_files=probe, publish_files=publish),
                    files=[dict(src=src, dest='/nope/a.conf'), dict(content='b\n', dest='/srv/b.txt')])
    result = run(action)
    assert action.requests[1]['changed'] == ['1']
    assert result['failed'] is True
    assert result['msg'] == '1 of 2 files failed: /nope/a.conf: the directory of dest does not exist'
    assert result['files'][1]['action'] == 'transfer'


@pytest.mark.parametrize('args, message', [
    (dict(files=[dict(content='a', dest='/x'), dict(content='b', dest='/x')]), 'items 1 and 2 have the same dest /x'),
    (dict(files=[dict(content='a', dest='/x')], dest='/y'), 'mutually exclusive'),
    (dict(files=[dict(content='a', dest='/x')], marker_path='/y.done'), 'mutually exclusive'),
    (dict(files=[dict(dest='/x')]), 'one of the following is required'),
])
def test_a_bad_list_fails_before_anything_runs_on_the_host(plugin, args, message):
    action = plugin({}, **args)
    with pytest.raises(AnsibleActionFail, match=message):
        run(action)
    assert action.requests == []


@pytest.fixture
def conf_tree(tmp_path):
    """A controller directory: two files, a hidden one a level down, a symlink to a file and one to a directory."""
    top = tmp_path / 'conf.d'
    (top / 'sub').mkdir(parents=True)
    (top / 'b.conf').write_bytes(b'b\n')
    (top / 'a.conf').write_bytes(b'a\n')
    (top / 'sub' / '.hidden').write_bytes(b'hidden\n')
    (top / 'passwd').symlink_to('/etc/passwd')
    (top / 'etc').symlink_to('/etc')
    return top


def test_a_directory_item_is_one_file_each_below_its_dest_with_the_items_options(above_inline_limit, plugin, conf_tree, src):
    probe = dict(changed=False, action='none', files_changed=[], files=[
        file_result(dest, 'none') for dest in ('/etc/app/conf.d/a.conf', '/etc/app/conf.d/b.conf',
                                               '/etc/app/conf.d/sub/.hidden', '/srv/site.conf')])
    action = plugin(dict(probe_files=probe), files=[
        dict(src=str(conf_tree) + '/', dest='/etc/app/conf.d/', mode='0640', lock_path='/run/app.lock'),
        dict(src=src, dest='/srv/site.conf')])
    run(action)
    assert action.requests[0]['files'] == [
        file_entry('/etc/app/conf.d/a.conf', b'a\n', mode='0640', lock_path='/run/app.lock'),
        file_entry('/etc/app/conf.d/b.conf', b'b\n', mode='0640', lock_path='/run/app.lock'),
        file_entry('/etc/app/conf.d/sub/.hidden', b'hidden\n', mode='0640', lock_path='/run/app.lock'),
        file_entry('/srv/site.conf', DATA)]


def test_a_directory_item_with_a_marker_path_is_refused(plugin, conf_tree):
    action = plugin({}, files=[dict(src=str(conf_tree), dest='/etc/app/conf.d', marker_path='/srv/x.done')])
    with pytest.raises(AnsibleActionFail, match='is a directory, and marker_path names one file'):
        run(action)
    assert action.requests == []


def test_files_that_would_share_a_marker_are_refused_naming_both_dests_and_the_fix(plugin, conf_tree, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'a.conf').write_bytes(b'other a\n')
    action = plugin({}, state_dir='/var/lib/handoff', files=[dict(src=str(conf_tree), dest='/etc/app/conf.d'),
                                                             dict(src=str(other / 'a.conf'), dest='/etc/web/a.conf')])
    with pytest.raises(AnsibleActionFail) as refused:
        run(action)
    assert refused.value.message.startswith(
        '/etc/app/conf.d/a.conf and /etc/web/a.conf would share the marker /var/lib/handoff/a.conf.done; each file '
        'needs a marker of its own. Give them different names, a relative state_dir')
    assert action.requests == []


def test_without_markers_files_of_one_name_in_one_state_dir_are_published(above_inline_limit, plugin, conf_tree):
    probe = dict(changed=False, action='none', files_changed=[], files=[file_result('/a/x', 'none'),
                                                                        file_result('/b/x', 'none')])
    action = plugin(dict(probe_files=probe), state_dir='/var/lib/handoff', marker=False,
                    files=[dict(content='1', dest='/a/x'), dict(content='2', dest='/b/x')])
    assert run(action)['changed'] is False
    assert [request['phase'] for request in action.requests] == ['probe_files']


def test_created_directories_of_a_file_survive_its_publish_and_are_summed_up(above_inline_limit, plugin, src):
    made = ['/srv/new', '/srv/new/.handoff']
    probe = dict(changed=True, action='transfer', files_changed=['0'], files=[
        file_result('/srv/new/site.conf', 'transfer', created_directories=made)])
    publish = dict(changed=True, action='transfer', files_changed=[], files=[
        file_result('/srv/new/site.conf', 'transfer', generation=1)])
    action = plugin(dict(probe_files=probe, publish_files=publish), create_parents=True,
                    files=[dict(src=src, dest='/srv/new/site.conf')])
    result = run(action)
    assert result['files'][0]['created_directories'] == made and result['created_directories'] == made
    assert action.module_args[0]['create_parents'] is True


def inline_bytes(module_args):
    """The tar the inline run's ``_inline`` carries."""
    return decode_inline(parse_request(module_args[REQUEST_OPTION]), module_args[INLINE_OPTION])


def test_a_small_list_is_one_module_run_carrying_every_file(plugin, src):
    inline = dict(changed=True, action='transfer', files_changed=['1'], files=[
        file_result('/etc/a.conf', 'none'),
        file_result('/srv/b.txt', 'transfer', generation=1, transfer_path='inline', diff_before={'absent': True})])
    action = plugin(dict(inline_files=inline), diff=True, files=[
        dict(src=src, dest='/etc/a.conf', mode='0640'), dict(content='b\n', dest='/srv/b.txt')])
    result = run(action)
    files = [file_entry('/etc/a.conf', DATA, mode='0640'), file_entry('/srv/b.txt', b'b\n')]
    assert action.requests == [
        dict(LIST_FIELDS, phase='inline_files', files=files, max_diff_size=C.MAX_FILE_SIZE_FOR_DIFF)]
    # Every file travels (the module probes, then publishes what changed); nothing is sent as a file of its own.
    assert members(inline_bytes(action.module_args[0])) == {'0': DATA, '1': b'b\n'} and action.sent == []
    assert (result['changed'], result['files_changed'], result['transfer_path']) == (True, ['/srv/b.txt'], 'inline')
    assert result['files'][1]['generation'] == 1 and 'diff_before' not in result['files'][1]
    assert result['diff'] == [dict(before_header='/srv/b.txt', after_header='/srv/b.txt', before='', after='b\n')]
    transfer = result['transfer']
    assert (transfer['path'], transfer['bytes_sent'], list(transfer['phases'])) == (
        'inline', len(inline_bytes(action.module_args[0])), ['hash', 'inline'])
    assert result['msg'].startswith('sent 10.0 KiB inside the module run (inline), ssh compression off; ')


def test_an_unchanged_small_list_is_one_module_run_that_says_nothing_was_published(plugin, src):
    inline = dict(changed=False, action='none', files_changed=[], files=[file_result('/etc/a.conf', 'none')])
    action = plugin(dict(inline_files=inline), files=[dict(src=src, dest='/etc/a.conf')])
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['inline_files']
    assert result['changed'] is False and 'transfer_path' not in result
    assert result['msg'].startswith('nothing published: dest already holds the data (the files')


def test_a_list_above_the_inline_limit_is_probed_then_only_the_changed_files_are_sent(plugin, tmp_path):
    big = tmp_path / 'big.bin'
    big.write_bytes(b'x' * INLINE_UP_TO_BYTES)
    probe = dict(changed=True, action='transfer', files_changed=['1'], files=[
        file_result('/srv/big.bin', 'none'), file_result('/srv/b.txt', 'transfer')])
    publish = dict(changed=True, action='transfer', files_changed=[], files=[
        file_result('/srv/big.bin', 'none'), file_result('/srv/b.txt', 'transfer', generation=1)])
    action = plugin(dict(probe_files=probe, publish_files=publish),
                    files=[dict(src=str(big), dest='/srv/big.bin'), dict(content='b\n', dest='/srv/b.txt')])
    result = run(action)
    assert [request['phase'] for request in action.requests] == ['probe_files', 'publish_files']
    assert all(INLINE_OPTION not in module_args for module_args in action.module_args)
    assert [members(data) for path, data in action.sent] == [{'1': b'b\n'}]
    assert result['transfer_path'] == 'staged'
