# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send a file over the task's ``ssh`` connection without ssh compression.

ansible-core's default ``ssh_args`` start with ``-C``, so everything its ssh
connection carries goes through zlib. Data that does not shrink (archives,
images, encrypted or random bytes) pays about 30 MB/s of one core for nothing:
a 1 GiB upload takes seven times as long as ``scp`` without ``-C``.
Compression belongs to the multiplexed master connection, not to one
transfer, so an uncompressed transfer needs a master of its own: the same
settings minus ``-C`` / ``Compression``, under a ControlPath of its own, which
later transfers to the host reuse while it persists.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.connection.ssh import Connection as SshConnection

# The connection options whose values ssh, sftp and scp read as command-line arguments.
ARGUMENT_OPTIONS = ('ssh_args', 'ssh_common_args', 'sftp_extra_args', 'scp_extra_args')
# ssh/scp/sftp flags that take no argument, so they may be clustered with -C ("-qC").
FLAGS_WITHOUT_ARGUMENT = frozenset('46AaCfGgKkMNnqsTtVvXxYy')
# -o settings that would bring compression back or share the compressed master.
DROPPED_SETTINGS = ('compression', 'controlpath')
SUFFIX = 'uncompressed'


def applies_to(connection):
    """Whether ``connection`` is ansible-core's ssh plugin, the only one that compresses.

    Mitogen's ssh connection says ``transport = 'ssh'`` and takes the same
    options, but sends files over the channel it already holds to the host, so
    changed options would not reach that transfer (its compression is the
    ``mitogen_ssh_compression`` variable).
    """
    return isinstance(connection, SshConnection)


def _is_mitogen_ssh(connection):
    """Mitogen's ssh connection: transport ``ssh``, not ansible-core's plugin, with Mitogen's task variables."""
    return getattr(connection, 'transport', None) == 'ssh' and not applies_to(connection) \
        and hasattr(connection, 'get_task_var')


def compresses(connection):
    """Whether ``connection``, as configured, sends through ssh compression.

    ssh's ``-C`` turns it on wherever it stands; otherwise the first ``-o Compression`` value counts.
    Mitogen's ssh connection compresses its channel unless ``mitogen_ssh_compression`` says no.
    """
    if _is_mitogen_ssh(connection):
        setting = connection.get_task_var('mitogen_ssh_compression')
        return True if setting is None else boolean(setting, strict=False)
    if not applies_to(connection):
        return False
    settings = []
    for option in ARGUMENT_OPTIONS:
        tokens = iter(shlex.split(connection.get_option(option) or ''))
        for token in tokens:
            if token == '-o':
                settings.append(next(tokens, ''))
            elif token.startswith('-o'):
                settings.append(token[2:])
            elif len(token) > 1 and token[0] == '-' and set(token[1:]) <= FLAGS_WITHOUT_ARGUMENT and 'C' in token:
                return True
    values = [setting.replace('=', ' ').split(' ', 1)[-1].strip().lower()
              for setting in settings if _setting_name(setting) == 'compression']
    return bool(values) and values[0] == 'yes'


def _setting_name(value):
    """The lower-case key of an ``-o`` value (``Compression=yes`` or ``Compression yes``)."""
    return value.replace('=', ' ').split(' ', 1)[0].strip().lower()


def without_compression(arguments):
    """``arguments`` (a shell-quoted string) minus ``-C``, ``-o Compression`` and ``-o ControlPath``."""
    kept = []
    tokens = iter(shlex.split(arguments))
    for token in tokens:
        if token == '-o':
            value = next(tokens, '')
            if _setting_name(value) not in DROPPED_SETTINGS:
                kept.extend((token, value))
        elif token.startswith('-o'):
            if _setting_name(token[2:]) not in DROPPED_SETTINGS:
                kept.append(token)
        elif len(token) > 1 and token[0] == '-' and set(token[1:]) <= FLAGS_WITHOUT_ARGUMENT:
            flags = token[1:].replace('C', '')
            if flags:
                kept.append('-' + flags)
        else:
            kept.append(token)
    return shlex.join(kept)


def separate_control_path(connection, configured):
    """A ControlPath template for the uncompressed master, never the compressed one's."""
    if configured:
        return '%s-%s' % (configured, SUFFIX)
    identity = '%s-%s-%s-%s' % (connection.get_option('host'), connection.get_option('port'),
                                connection.get_option('remote_user'), SUFFIX)
    return '%(directory)s/' + hashlib.sha1(identity.encode('utf-8')).hexdigest()[:10]


@contextlib.contextmanager
def uncompressed(connection):
    """Within the block, ``connection`` builds its ssh/sftp/scp commands without compression.

    The options are restored afterwards, so the task's module runs keep the
    connection as configured.
    """
    saved = {option: connection.get_option(option) for option in ARGUMENT_OPTIONS + ('control_path',)}
    try:
        for option in ARGUMENT_OPTIONS:
            if saved[option]:
                connection.set_option(option, without_compression(saved[option]))
        # ssh takes the first value it reads for a setting: this one wins over any ssh_config file.
        connection.set_option('ssh_args', ' '.join(filter(None, ('-o Compression=no', connection.get_option('ssh_args')))))
        connection.set_option('control_path', separate_control_path(connection, saved['control_path']))
        yield
    finally:
        for option, value in saved.items():
            connection.set_option(option, value)
