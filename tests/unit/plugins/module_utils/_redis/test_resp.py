# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The RESP client against a real redis-server, plus the reply parser on bytes a server would send."""

from __future__ import annotations

import io
import socket

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import (
    RedisError, RedisServer, RedisUnavailable, ReplyError, Script, encode_command, read_reply)
from tests.support.redis_server import free_port


def test_encode_command_is_an_array_of_bulk_strings():
    assert encode_command(['SET', 'k', 'vä', 7]) == b'*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\xc3\xa4\r\n$1\r\n7\r\n'


def test_read_reply_parses_every_resp2_type_and_keeps_errors_inside_arrays():
    raw = b'*6\r\n+OK\r\n:-3\r\n$5\r\nhe\r\nl\r\n$-1\r\n-ERR nope\r\n*1\r\n*0\r\n'
    reply = read_reply(io.BytesIO(raw))
    assert reply[:4] == ['OK', -3, 'he\r\nl', None]
    assert isinstance(reply[4], ReplyError) and str(reply[4]) == 'ERR nope'
    assert reply[5] == [[]]


def test_read_reply_refuses_a_truncated_reply():
    with pytest.raises(EOFError, match='middle of a reply'):
        read_reply(io.BytesIO(b'$10\r\nshort\r\n'))


def test_commands_round_trip_through_a_real_server(redis_server):
    with redis_server.server.connect() as connection:
        assert connection.command('SET', 'k', 'v') == 'OK'
        assert connection.command('GET', 'k') == 'v'
        assert connection.command('INCR', 'n') == 1
        assert connection.command('GET', 'absent') is None
        with pytest.raises(RedisError, match=r'refused INCR: .*not an integer'):
            connection.command('INCR', 'k')
        assert connection.command('PING') == 'PONG', 'an error reply must leave the connection usable'


def test_select_picks_the_database(redis_server):
    server = RedisServer('127.0.0.1', redis_server.port, db=3, password=redis_server.password)
    with server.connect() as connection:
        connection.command('SET', 'in3', 'x')
    assert redis_server.command('GET', 'in3') is None
    assert server.describe() == 'redis://127.0.0.1:%d/3' % redis_server.port


def test_a_script_runs_by_sha1_after_the_first_eval(redis_server):
    script = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    with redis_server.server.connect() as connection:
        assert script(connection, ['c'], [2]) == 2
        assert connection.command('SCRIPT', 'EXISTS', script.sha1) == [1]
        assert script(connection, ['c'], [3]) == 5


def test_a_wrong_password_names_the_server_and_the_option(redis_server):
    server = RedisServer('127.0.0.1', redis_server.port, password='wrong')
    with pytest.raises(RedisError) as caught:
        server.connect()
    assert 'Redis at redis://127.0.0.1:%d/0 refused the login: WRONGPASS' % redis_server.port in caught.value.msg
    assert 'redis_password' in caught.value.msg and 'wrong' not in caught.value.msg.replace('WRONGPASS', '')


def test_a_missing_password_names_the_server(redis_server):
    with pytest.raises(RedisError, match=r'Redis at redis://127\.0\.0\.1:\d+/0 requires a password \(NOAUTH'):
        RedisServer('127.0.0.1', redis_server.port).connect().command('GET', 'k')


def test_nothing_listening_names_the_server_and_what_to_do():
    port = free_port()
    with pytest.raises(RedisUnavailable) as caught:
        RedisServer('127.0.0.1', port).connect()
    assert caught.value.msg.startswith('cannot connect to Redis at redis://127.0.0.1:%d/0: Connection refused' % port)
    assert 'redis_host/redis_port' in caught.value.msg


def test_a_server_killed_mid_command_is_a_lost_connection(redis_server):
    connection = redis_server.server.connect()
    redis_server.kill()
    lost = r'lost the connection to Redis at redis://127\.0\.0\.1:\d+/0 during BLPOP'
    with pytest.raises(RedisUnavailable, match=lost):
        connection.command('BLPOP', 'never', 0, timeout=5)
    with pytest.raises(RedisUnavailable, match='is closed'):
        connection.command('PING')


def test_a_silent_peer_times_out():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        server = RedisServer('127.0.0.1', listener.getsockname()[1], timeout=0.2)
        connection = server.connect()
        with pytest.raises(RedisUnavailable, match='no reply within the timeout'):
            connection.command('PING')


def test_tls_verifies_the_server_against_the_given_ca(tls_redis_server):
    with tls_redis_server.server.connect() as connection:
        assert connection.command('PING') == 'PONG'
    untrusted = RedisServer('127.0.0.1', tls_redis_server.port, password=tls_redis_server.password, tls=True)
    with pytest.raises(RedisUnavailable) as caught:
        untrusted.connect()
    assert caught.value.msg.startswith('TLS handshake with Redis at rediss://127.0.0.1:%d/0 failed' % untrusted.port)
    assert 'CERTIFICATE_VERIFY_FAILED' in caught.value.msg and 'redis_tls_ca_path' in caught.value.msg
