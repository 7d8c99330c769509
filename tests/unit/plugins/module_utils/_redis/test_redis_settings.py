# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""How a module reaches Redis: the server from redis_host, the password from a file only its owner can read."""

from __future__ import annotations

import os

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._redis.options import redis_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.settings import (
    read_password_file, redact_credentials, redis_server)

SECRET = 's3cret-Pw'


def params(**given):
    values = {option: settings.get('default') for option, settings in redis_argument_spec().items()}
    values.update(redis_host='127.0.0.1')
    values.update(given)
    return values


def password_file(tmp_path, content=SECRET + '\n', mode=0o600):
    path = tmp_path / 'redis.pw'
    path.write_text(content)
    path.chmod(mode)
    return str(path)


def test_the_password_file_is_read_without_its_trailing_newline(tmp_path):
    assert read_password_file(password_file(tmp_path)) == SECRET.encode()


@pytest.mark.parametrize('mode', [0o640, 0o604, 0o620, 0o660])
def test_a_password_file_others_may_access_is_refused_saying_so(tmp_path, mode):
    path = password_file(tmp_path, mode=mode)
    with pytest.raises(HandoffError) as caught:
        read_password_file(path)
    assert caught.value.msg == ('redis_password_file %s has mode %04o: its group or others may access it, so the '
                                'password is not secret; chmod 600 it (and let only its owner read it)' % (path, mode))
    assert SECRET not in caught.value.msg


def test_a_symlinked_password_file_is_refused(tmp_path):
    link = tmp_path / 'link.pw'
    link.symlink_to(password_file(tmp_path))
    with pytest.raises(HandoffError, match='^cannot open redis_password_file .*; it must be a regular file'):
        read_password_file(str(link))


def test_a_fifo_password_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / 'pw.fifo'
    os.mkfifo(str(fifo), 0o600)
    with pytest.raises(HandoffError, match='is not a regular file'):
        read_password_file(str(fifo))


@pytest.mark.parametrize('content', ['', '\n', 'one\ntwo\n'])
def test_a_password_file_without_one_line_is_refused(tmp_path, content):
    with pytest.raises(HandoffError, match='must hold the password on one line'):
        read_password_file(password_file(tmp_path, content=content))


def test_a_relative_password_file_is_refused():
    with pytest.raises(HandoffError, match='^redis_password_file redis.pw is a relative path'):
        read_password_file('redis.pw')


def test_password_and_password_file_together_are_refused(tmp_path):
    with pytest.raises(HandoffError, match='redis_password and redis_password_file are both set'):
        redis_server(params(redis_password='x', redis_password_file=password_file(tmp_path)), 'lock_type=redis')


@pytest.mark.parametrize('host', ['redis://:%s@cache.example.com:6379/0' % SECRET,
                                  'rediss://app:%s@cache.example.com' % SECRET, 'app:%s@cache.example.com' % SECRET])
def test_a_url_with_credentials_in_redis_host_is_refused_without_showing_the_password(host):
    with pytest.raises(HandoffError) as caught:
        redis_server(params(redis_host=host), 'lock_type=redis')
    assert 'is not a host name or address' in caught.value.msg
    assert SECRET not in caught.value.msg and '***@cache.example.com' in caught.value.msg


def test_redaction_keeps_the_rest_of_the_text():
    assert redact_credentials('at redis://u:pw@h:1/0 and x') == 'at redis://***@h:1/0 and x'


def test_the_password_file_logs_in_and_a_wrong_one_is_refused(redis_server, tmp_path):
    path = password_file(tmp_path, content=redis_server.password + '\n')
    with redis_server_of(params(redis_port=redis_server.port, redis_password_file=path)).connect() as connection:
        assert connection.command('PING') == 'PONG'
    wrong = tmp_path / 'wrong'
    wrong.mkdir()
    with pytest.raises(HandoffError, match='refused the login: .* Set redis_password_file or redis_password'):
        redis_server_of(params(redis_port=redis_server.port,
                               redis_password_file=password_file(wrong, content='wrong\n'))).connect()


def redis_server_of(given):
    return redis_server(given, 'test')
