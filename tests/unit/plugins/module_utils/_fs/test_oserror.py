# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""OSErrors turned into sentences that say what to do; ENOSPC and EROFS also from real tmpfs mounts."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.durable import write_bytes_durably
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._become import (
    BECOME_TOOL_VARIABLES, LOGIN_UID_PATH, LOGIN_UID_UNSET)
from ansible_collections.lockstep.handoff.plugins.module_utils._fs import oserror as oserror_module
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


def set_login_uid(uid):
    """Set this process's kernel login uid (None: unset it), as pam_loginuid does when a session logs in."""
    with open(LOGIN_UID_PATH, 'w') as handle:
        handle.write(str(LOGIN_UID_UNSET if uid is None else uid))


def explained_as_nobody(code, doing, path, login_uid=NOBODY, environment=None):
    """``explain(...).msg`` of a permission error, computed in a child process running as nobody.

    The child's session logged in as ``login_uid`` (nobody by default: no become; None: no login uid at all)
    and its environment has ``environment`` and no variable a become tool sets.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            for name in BECOME_TOOL_VARIABLES:
                os.environ.pop(name, None)
            os.environ.update(environment or {})
            try:
                set_login_uid(login_uid)
            except OSError as exc:
                os.write(write_end, ('skip: cannot set the login uid here: %s' % exc).encode())
                os._exit(0)
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
    if msg.startswith('skip: '):
        pytest.skip(msg[len('skip: '):])
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


@pytest.mark.parametrize('login_uid, environment', [
    (None, dict(SUDO_USER='deploy')),
    (None, dict(DOAS_USER='deploy')),
    (None, dict(PKEXEC_UID='1000')),
    (0, {}),
    (1000, {}),
], ids=['sudo', 'doas', 'pkexec', 'su-from-root-login', 'su-from-user-login'])
def test_permission_message_under_become_does_not_suggest_become(shared_tree, login_uid, environment):
    """sudo, doas and pkexec say so in the environment; su only in the login uid, which names another user."""
    directory = os.path.join(shared_tree, 'x', 'e')
    msg = explained_as_nobody(errno.EACCES, 'creating temp file in', directory, login_uid, environment)
    assert msg.endswith('make %s writable for that user, or become (become_user) a user who has it' % directory)
    assert 'use become' not in msg


def test_permission_message_without_a_login_uid_or_a_become_variable_suggests_neither(shared_tree):
    """Nothing says whether become is in use (a daemon's child, a container without pam_loginuid): no guess."""
    directory = os.path.join(shared_tree, 'x', 'e')
    msg = explained_as_nobody(errno.EACCES, 'creating temp file in', directory, login_uid=None)
    assert msg.endswith('make %s writable for that user' % directory) and 'become' not in msg


def test_permission_message_under_a_real_su_does_not_suggest_become(shared_tree):
    """A session of root runs su to nobody, as become_method su does; no variable tells, the login uid does."""
    if not shutil.which('su'):
        pytest.skip('needs su')
    directory = os.path.join(shared_tree, 'x', 'e')
    collections_root = os.path.abspath(oserror_module.__file__).split('%sansible_collections%s' % (os.sep, os.sep))[0]
    script = ('import sys; sys.path.insert(0, %r); from ansible_collections.lockstep.handoff.plugins.module_utils._fs.'
              'oserror import explain; print(explain(OSError(13, "Permission denied"), "creating temp file in", %r).msg)'
              % (collections_root, directory))
    environment = {name: value for name, value in os.environ.items() if name not in BECOME_TOOL_VARIABLES}
    try:
        done = subprocess.run(['su', '-s', '/bin/sh', pwd.getpwuid(NOBODY).pw_name, '-c',
                               '"$0" -c "$1"', '/usr/bin/python3', script],
                              env=environment, preexec_fn=lambda: set_login_uid(0), capture_output=True, text=True,
                              check=False)
    except subprocess.SubprocessError as exc:
        pytest.skip('cannot set the login uid here: %s' % exc)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith('make %s writable for that user, or become (become_user) a user who has it'
                                        % directory)


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
