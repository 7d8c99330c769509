# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""OSErrors turned into sentences that say what to do; ENOSPC and EROFS also from real tmpfs mounts."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shutil
import tempfile

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import write_bytes_durably
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._fs.oserror import explain, explained, filesystem_space

FREE_OF = re.compile(r' \((\d+) bytes free of (\d+)\); free space there and re-run$')


def oserror(code, path):
    return OSError(code, os.strerror(code), path)


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_message_says_so_with_free_and_total_bytes(tmp_path, code):
    path = str(tmp_path / 'x')
    exc = explain(oserror(code, path), 'writing', path)
    assert exc.msg.startswith('writing %s failed: the disk is full: no space left on the filesystem holding %s'
                              % (path, tmp_path))
    free, total = (int(n) for n in FREE_OF.search(exc.msg).groups())
    assert total == os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize
    assert 0 < free <= total
    assert exc.details == {'errno': errno.errorcode[code], 'path': path}


def test_full_disk_message_without_a_directory_to_measure_leaves_numbers_out(tmp_path):
    path = str(tmp_path / 'gone' / 'x')
    exc = explain(oserror(errno.ENOSPC, path), 'writing', path)
    assert exc.msg.endswith('no space left on the filesystem holding %s; free space there and re-run'
                            % (tmp_path / 'gone'))


@pytest.mark.parametrize('code, expected', [
    (errno.EROFS, 'writing /srv/in/x failed: the filesystem holding /srv/in is mounted read-only; '
                  'remount it read-write or choose another destination'),
    (errno.ELOOP, 'writing /srv/in/x failed: it is a symlink, and this module never follows one there'),
    (errno.ENOENT, 'writing /srv/in/x failed: /srv/in/x does not exist'),
    (errno.EIO, 'writing /srv/in/x failed: Input/output error'),
])
def test_message_names_the_problem_and_the_fix(code, expected):
    exc = explain(oserror(code, '/srv/in/x'), 'writing', '/srv/in/x')
    assert exc.msg == expected
    assert exc.details == {'errno': errno.errorcode[code], 'path': '/srv/in/x'}


NOBODY = 65534


def explained_as_nobody(code, doing, path, sudo_user=None):
    """``explain(...).msg`` of a permission error, computed in a child process running as nobody."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.environ.pop('SUDO_USER', None)
            if sudo_user:
                os.environ['SUDO_USER'] = sudo_user
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, explain(oserror(code, path), doing, path).msg.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as reader:
        msg = reader.read().decode()
    os.waitpid(pid, 0)
    return msg


@pytest.fixture
def shared_tree():
    """``/tmp/X/x/e``, directories of root that others may enter but not write; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip('needs root to run the check as another user')
    top = tempfile.mkdtemp(dir='/tmp')
    os.chmod(top, 0o755)
    os.makedirs(os.path.join(top, 'x', 'e'), mode=0o755)
    yield top
    shutil.rmtree(top)


@pytest.mark.parametrize('code', [errno.EACCES, errno.EPERM])
def test_permission_message_names_the_user_and_the_directory_to_write(shared_tree, code):
    directory = os.path.join(shared_tree, 'x', 'e')
    msg = explained_as_nobody(code, 'creating temp file in', directory)
    assert msg == ('creating temp file in %s failed: permission denied for %s (uid %d); make %s writable for that '
                   'user, or use become' % (directory, pwd.getpwuid(NOBODY).pw_name, NOBODY, directory))
    path = os.path.join(directory, 'f')
    assert explained_as_nobody(code, 'writing', path).endswith('make %s writable for that user, or use become'
                                                               % directory)


def test_permission_message_names_the_directory_the_user_may_not_enter(shared_tree):
    os.chmod(os.path.join(shared_tree, 'x'), 0o700)
    msg = explained_as_nobody(errno.EACCES, 'writing', os.path.join(shared_tree, 'x', 'e', 'f'))
    assert msg.endswith('that user may not enter %s (no x permission); give it search permission there, or use '
                        'become' % os.path.join(shared_tree, 'x'))


def test_permission_message_under_become_does_not_suggest_become(shared_tree):
    directory = os.path.join(shared_tree, 'x', 'e')
    msg = explained_as_nobody(errno.EACCES, 'creating temp file in', directory, sudo_user='deploy')
    assert msg.endswith('make %s writable for that user, or become (become_user) a user who has it' % directory)
    assert 'use become' not in msg


def test_permission_message_for_root_suggests_no_become():
    if os.geteuid() != 0:
        pytest.skip('runs as root')
    msg = explain(oserror(errno.EPERM, '/srv/in/x'), 'writing', '/srv/in/x').msg
    assert msg.endswith('make /srv/in writable for that user') and 'become' not in msg


def test_unknown_errno_is_reported_by_number():
    exc = explain(OSError(9999, 'Strange failure'), 'writing', '/srv/in/x')
    assert exc.msg == 'writing /srv/in/x failed: Strange failure'
    assert exc.details['errno'] == '9999'


def test_bare_file_name_is_measured_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exc = explain(oserror(errno.ENOSPC, 'x'), 'writing', 'x')
    assert 'no space left on the filesystem holding .' in exc.msg
    assert FREE_OF.search(exc.msg)


def test_explained_turns_an_oserror_into_a_handoff_error_with_the_cause():
    with pytest.raises(HandoffError) as caught:
        with explained('reading', '/srv/in/x'):
            raise oserror(errno.ENOENT, '/srv/in/x')
    assert caught.value.msg == 'reading /srv/in/x failed: /srv/in/x does not exist'
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_explained_lets_other_exceptions_through_unchanged():
    with pytest.raises(KeyError):
        with explained('reading', '/srv/in/x'):
            raise KeyError('k')


def test_explained_does_nothing_when_the_block_succeeds():
    with explained('reading', '/srv/in/x') as context:
        value = 42
    assert (value, context.doing, context.path) == (42, 'reading', '/srv/in/x')


def test_filesystem_space_of_a_writable_directory(tmp_path):
    space = filesystem_space(str(tmp_path))
    assert space['read_only'] is False
    assert 0 < space['free_bytes'] <= space['total_bytes']


def test_real_full_tmpfs_gives_enospc_explained_and_no_temp_left(tmp_path, mount_tmpfs):
    tiny = mount_tmpfs(tmp_path / 'tiny', 'size=128k')
    dest = str(tiny / 'big')
    with pytest.raises(OSError) as caught:
        write_bytes_durably(dest, b'\0' * (1024 * 1024))
    assert caught.value.errno == errno.ENOSPC
    assert os.listdir(tiny) == []
    exc = explain(caught.value, 'writing', dest)
    assert 'failed: the disk is full: no space left on the filesystem holding %s' % tiny in exc.msg
    free, total = (int(n) for n in FREE_OF.search(exc.msg).groups())
    assert (free, total) == (128 * 1024, 128 * 1024)


def test_real_read_only_tmpfs_is_reported_read_only(tmp_path, mount_tmpfs):
    frozen = mount_tmpfs(tmp_path / 'frozen', 'size=64k', 'ro')
    dest = str(frozen / 'x')
    assert filesystem_space(str(frozen))['read_only'] is True
    with pytest.raises(OSError) as caught:
        write_bytes_durably(dest, b'data')
    assert caught.value.errno == errno.EROFS
    assert 'is mounted read-only' in explain(caught.value, 'writing', dest).msg
