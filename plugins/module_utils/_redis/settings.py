# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis server and key prefix a task uses, from its ``redis_*`` options (the ``redis`` doc fragment)."""

from __future__ import annotations

import os
import re
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.resp import RedisServer


def redis_server(params, wanted_by):
    """The RedisServer the options name; ``wanted_by`` (e.g. ``lock_type=redis``) says why one is needed.

    There is no default host: a Redis on each target's own loopback would
    coordinate nobody, which is the failure this backend exists to prevent.
    """
    if not params['redis_host']:
        raise HandoffError('%s needs redis_host (or LOCKSTEP_REDIS_HOST where the module runs): the Redis server '
                           'that every host taking part can reach' % wanted_by)
    check_redis_host(params['redis_host'])
    return RedisServer(params['redis_host'], params['redis_port'], params['redis_db'], params['redis_username'],
                       redis_password(params), params['redis_tls'], params['redis_tls_ca_path'],
                       params['redis_timeout'])


_CREDENTIALS = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<credentials>[^\s/@]*)@')


def redact_credentials(text):
    """``text`` with any ``user:password@`` part of a URL or host replaced by ``***@``."""
    return _CREDENTIALS.sub(lambda match: (match.group('scheme') or '') + '***@', text)


def check_redis_host(host):
    """Refuse a URL or ``user:password@host`` in redis_host, naming it only with its credentials redacted.

    Messages and results name the server by its host: a password inside it would be shown to everybody
    who reads the output.
    """
    if '@' in host or '://' in host or '/' in host:
        raise HandoffError('redis_host %s is not a host name or address; give the host alone, the port in '
                           'redis_port, the user in redis_username, and the password in redis_password_file (a '
                           'file on the host) or redis_password (from Ansible Vault)' % redact_credentials(host))


MAX_PASSWORD_BYTES = 4096


def redis_password(params):
    """The password to AUTH with: ``redis_password``, or the content of ``redis_password_file``, or None."""
    path = params.get('redis_password_file')
    if path is None:
        return params['redis_password']
    if params['redis_password'] is not None:
        raise HandoffError('redis_password and redis_password_file are both set (maybe one from LOCKSTEP_REDIS_*); '
                           'give the password one way only')
    return read_password_file(path)


def read_password_file(path):
    """The password in the file ``path`` (one line; a trailing newline is dropped).

    Opened without following a symlink and checked to be a regular file that
    only its owner may read or write: a password readable by others is no
    secret, and a file others may replace is not ours to trust.
    """
    if not os.path.isabs(path):
        raise HandoffError('redis_password_file %s is a relative path; give an absolute path' % path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise HandoffError('cannot open redis_password_file %s: %s; it must be a regular file (not a symlink) '
                           'that the user running the module may read' % (path, exc.strerror), path=path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HandoffError('redis_password_file %s is not a regular file' % path, path=path)
        if st.st_mode & 0o077:
            raise HandoffError('redis_password_file %s has mode %04o: its group or others may access it, so the '
                               'password is not secret; chmod 600 it (and let only its owner read it)'
                               % (path, stat.S_IMODE(st.st_mode)), path=path)
        raw = os.read(fd, MAX_PASSWORD_BYTES + 1)
    finally:
        os.close(fd)
    password = raw.rstrip(b'\r\n')
    if not password or len(raw) > MAX_PASSWORD_BYTES or b'\n' in password:
        raise HandoffError('redis_password_file %s must hold the password on one line (at most %d bytes)'
                           % (path, MAX_PASSWORD_BYTES), path=path)
    return password


class RedisLockSettings:
    """What a lease needs besides its name: the server, the key prefix, the lease TTL in seconds."""

    def __init__(self, server, prefix, ttl):
        self.server = server
        self.prefix = prefix
        self.ttl = ttl


def redis_lock_settings(params):
    """RedisLockSettings from a locking module's options."""
    return RedisLockSettings(redis_server(params, 'lock_type=redis'), params['redis_key_prefix'],
                             params['lock_lease_ttl'])
