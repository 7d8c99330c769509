# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private redis-server for tests: loopback, a free port, a temp dir, a password, append-only file.

Never the system service: each test session starts its own process and stops it
by pid. Fleet hosts share the machine's network namespace, so every host reaches
it at 127.0.0.1. ``restart()`` keeps the port and the data (AOF, fsync always),
as an operator's restart would.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which('redis-server') or '/usr/bin/redis-server'
START_TIMEOUT = 10.0


def free_port():
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisProcess:
    """One redis-server we started; ``server`` is how clients reach it."""

    def __init__(self, workdir, tls=None):
        """``tls``: ``(certificate, key, CA certificate)`` files to serve TLS only, or None for plain TCP."""
        # Imported here, not at the top: this plugin loads before the conftests put the collection on the path.
        from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisServer

        self.workdir = Path(workdir)
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.process = None
        self.tls = tls
        self.server = RedisServer('127.0.0.1', self.port, password=self.password, tls=bool(tls),
                                  tls_ca_path=tls[2] if tls else None)

    def start(self):
        """Start (or start again on the same port and data) and return once it answers PING.

        Until then it may refuse the connection, or answer ``LOADING`` while it
        replays its append-only file (long on a loaded machine): both mean "not yet".
        """
        from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisError, RedisUnavailable

        ports = ['--port', str(self.port)]
        if self.tls:
            ports = ['--port', '0', '--tls-port', str(self.port), '--tls-cert-file', self.tls[0],
                     '--tls-key-file', self.tls[1], '--tls-ca-cert-file', self.tls[2], '--tls-auth-clients', 'no']
        log = open(self.workdir / 'redis.log', 'ab')
        self.process = subprocess.Popen(
            [REDIS_SERVER, '--bind', '127.0.0.1', *ports, '--requirepass', self.password,
             '--dir', str(self.workdir), '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
             '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', ''],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with self.server.connect() as connection:
                    if connection.command('PING') == 'PONG':
                        return self
            except RedisError as exc:
                if not isinstance(exc, RedisUnavailable) and 'LOADING' not in str(exc):
                    raise
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('redis-server did not start on port %d:\n%s'
                                       % (self.port, (self.workdir / 'redis.log').read_text(errors='replace')[-2000:]))
            time.sleep(0.02)

    def kill(self):
        """SIGKILL it, as a crash would, and reap it (the data written so far is in the AOF)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def restart(self):
        """Kill and start again on the same port with the same data."""
        self.kill()
        return self.start()

    def command(self, *args):
        """One command on a fresh connection (tests look from outside, like redis-cli)."""
        with self.server.connect() as connection:
            return connection.command(*args)

    def env(self, **extra):
        """LOCKSTEP_REDIS_* variables that point a module at this server."""
        env = {'LOCKSTEP_REDIS_HOST': '127.0.0.1', 'LOCKSTEP_REDIS_PORT': str(self.port),
               'LOCKSTEP_REDIS_PASSWORD': self.password}
        env.update(extra)
        return env


def _require_redis_server():
    if not os.access(REDIS_SERVER, os.X_OK):
        reason = 'redis-server is not installed (scripts/bootstrap installs the Debian package as root)'
        if os.environ.get('CI') == 'true':
            pytest.fail(reason + ' (CI=true: this test must run, not skip)', pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def redis_server():
    """A fresh redis-server for one test (empty, own port); stopped by pid afterwards."""
    _require_redis_server()
    workdir = tempfile.mkdtemp(prefix='redis-test-')
    process = RedisProcess(workdir)
    try:
        yield process.start()
    finally:
        process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _self_signed(workdir):
    """A CA and a server certificate for 127.0.0.1 signed by it, made by openssl(1); returns the three paths."""
    names = ('ca.key', 'ca.crt', 'server.key', 'server.csr', 'server.crt')
    ca_key, ca, key, csr, cert = (str(workdir / name) for name in names)
    extensions = workdir / 'san.cnf'
    extensions.write_text('subjectAltName=IP:127.0.0.1\n')
    for command in (
            ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca_key,
             '-out', ca, '-days', '1', '-subj', '/CN=test CA'],
            ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr,
             '-subj', '/CN=127.0.0.1'],
            ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key, '-CAcreateserial', '-out', cert, '-days', '1',
             '-extfile', str(extensions)]):
        subprocess.run(['openssl'] + command, check=True, capture_output=True)
    return cert, key, ca


@pytest.fixture
def tls_redis_server():
    """A redis-server that speaks TLS only, with a certificate for 127.0.0.1 from its own CA."""
    _require_redis_server()
    workdir = Path(tempfile.mkdtemp(prefix='redis-tls-test-'))
    process = RedisProcess(workdir, tls=_self_signed(workdir))
    try:
        yield process.start()
    finally:
        process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
