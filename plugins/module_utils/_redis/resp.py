# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small Redis client speaking RESP2 over a socket (TLS optional), standard library only.

Modules run on targets that have no third-party packages, and the lock must be
held by the process doing the work there; so the client is this file: connect,
AUTH, SELECT, one command at a time, and Lua scripts by SHA1 with a fallback to
EVAL. Every error names the server, so an operator knows which one to fix.
"""

from __future__ import annotations

import hashlib
import socket
import ssl

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

_CRLF = b'\r\n'
_MAX_LINE = 64 * 1024


class RedisError(HandoffError):
    """The server answered with an error, or refused us (password, database)."""


class RedisUnavailable(RedisError):
    """The server could not be reached, or the connection broke: worth a retry later."""


class RedisServer:
    """Where a Redis server is and how to log in; ``describe()`` names it in messages (no password)."""

    def __init__(self, host, port=6379, db=0, username=None, password=None, tls=False, tls_ca_path=None,
                 timeout=5.0):
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
        self.tls = tls
        self.tls_ca_path = tls_ca_path
        self.timeout = timeout

    def describe(self):
        """``redis://host:port/db`` (``rediss://`` with TLS)."""
        return '%s://%s:%d/%d' % ('rediss' if self.tls else 'redis', self.host, self.port, self.db)

    def connect(self):
        """A logged-in connection with the database selected."""
        return RespConnection(self)


def encode_command(args):
    """One command as a RESP array of bulk strings."""
    parts = [b'*%d\r\n' % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode('utf-8')
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            data = repr(arg).encode('ascii')
        else:
            raise TypeError('cannot send %r to Redis' % (arg,))
        parts.append(b'$%d\r\n%s\r\n' % (len(data), data))
    return b''.join(parts)


class ReplyError(Exception):
    """An error reply (``-ERR ...``) as parsed, before the connection names its server."""


def read_reply(stream):
    """One reply from a binary file-like ``stream``: str for simple and bulk strings, int, list, or None.

    Error replies come back as ReplyError instances (not raised), so that an
    error inside an array does not lose the rest of it.
    """
    line = stream.readline(_MAX_LINE)
    if not line.endswith(_CRLF):
        raise EOFError('the connection closed in the middle of a reply' if line else 'the connection closed')
    kind, body = line[:1], line[1:-2]
    if kind == b'+':
        return body.decode('utf-8', 'replace')
    if kind == b'-':
        return ReplyError(body.decode('utf-8', 'replace'))
    if kind == b':':
        return int(body)
    if kind == b'$':
        length = int(body)
        if length < 0:
            return None
        data = stream.read(length + 2)
        if len(data) != length + 2:
            raise EOFError('the connection closed in the middle of a reply')
        return data[:-2].decode('utf-8', 'replace')
    if kind == b'*':
        count = int(body)
        if count < 0:
            return None
        return [read_reply(stream) for dummy in range(count)]
    raise ValueError('not a RESP2 reply: %r' % line[:40])


class RespConnection:
    """One connection; ``command()`` sends and waits for the reply. Any broken exchange closes it."""

    def __init__(self, server):
        self.server = server
        self._sock = None
        self._stream = None
        self._open()
        try:
            if server.password is not None:
                auth = ['AUTH', server.username, server.password] if server.username else ['AUTH', server.password]
                self._login(auth)
            if server.db:
                self.command('SELECT', server.db)
        except BaseException:
            self.close()
            raise

    def _open(self):
        server = self.server
        try:
            sock = socket.create_connection((server.host, server.port), timeout=server.timeout)
        except OSError as exc:
            raise RedisUnavailable('cannot connect to Redis at %s: %s. Start it, or point redis_host/redis_port '
                                   '(LOCKSTEP_REDIS_HOST/LOCKSTEP_REDIS_PORT) at the server every host shares'
                                   % (server.describe(), exc.strerror or exc), redis=server.describe())
        if server.tls:
            try:
                context = ssl.create_default_context(cafile=server.tls_ca_path)
                sock = context.wrap_socket(sock, server_hostname=server.host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise RedisUnavailable('TLS handshake with Redis at %s failed: %s. Check redis_tls_ca_path and '
                                       'that the server speaks TLS on this port' % (server.describe(), exc),
                                       redis=server.describe())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._stream = sock.makefile('rb')

    def _login(self, auth):
        try:
            self.command(*auth)
        except RedisError as exc:
            if isinstance(exc, RedisUnavailable):
                raise
            raise RedisError('Redis at %s refused the login: %s. Set redis_password_file or redis_password%s to '
                             'what the server expects' % (self.server.describe(), exc.details['reply'],
                                                          ' and redis_username' if self.server.username else ''),
                             redis=self.server.describe())

    def command(self, *args, timeout=None):
        """Send one command; return its reply, or raise RedisError naming the server.

        ``timeout`` (seconds) overrides the server's for this reply, for
        blocking commands that legitimately wait longer.
        """
        if self._sock is None:
            raise RedisUnavailable('the connection to Redis at %s is closed' % self.server.describe(),
                                   redis=self.server.describe())
        try:
            self._sock.settimeout(self.server.timeout if timeout is None else timeout)
            self._sock.sendall(encode_command(args))
            reply = read_reply(self._stream)
        except (OSError, EOFError, ValueError) as exc:
            self.close()
            raise RedisUnavailable('lost the connection to Redis at %s during %s: %s'
                                   % (self.server.describe(), args[0], _why(exc)), redis=self.server.describe())
        if isinstance(reply, ReplyError):
            raise _reply_error(self.server, args[0], str(reply))
        return reply

    def close(self):
        """Close the socket (idempotent)."""
        if self._sock is not None:
            self._stream.close()
            self._sock.close()
            self._sock = self._stream = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _why(exc):
    if isinstance(exc, socket.timeout):
        return 'no reply within the timeout'
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _reply_error(server, command, reply):
    if reply.startswith('NOAUTH'):
        return RedisError('Redis at %s requires a password (%s); set redis_password_file or redis_password'
                          % (server.describe(), reply), redis=server.describe(), reply=reply)
    return RedisError('Redis at %s refused %s: %s' % (server.describe(), command, reply),
                      redis=server.describe(), reply=reply)


class Script:
    """A Lua script run atomically on the server, by SHA1 once the server has it (EVALSHA, else EVAL)."""

    def __init__(self, source):
        self.source = source
        self.sha1 = hashlib.sha1(source.encode('utf-8')).hexdigest()

    def __call__(self, connection, keys, args):
        try:
            return connection.command('EVALSHA', self.sha1, len(keys), *(list(keys) + list(args)))
        except RedisError as exc:
            if not exc.details.get('reply', '').startswith('NOSCRIPT'):
                raise
        return connection.command('EVAL', self.source, len(keys), *(list(keys) + list(args)))
