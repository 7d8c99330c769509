# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The uncompressed transfer, checked on the commands ansible-core's own ssh plugin builds."""

from __future__ import annotations

import io

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

from ansible_collections.lockstep.handoff.plugins.plugin_utils.uncompressed_ssh import (
    applies_to, compresses, uncompressed, without_compression)


@pytest.fixture
def ssh_connection(tmp_path):
    """Make ansible-core's ssh connection plugin, with options set as a task's variables would set them."""
    def make(**options):
        return _ssh_connection(str(tmp_path), **options)
    return make


def _ssh_connection(control_path_dir, **options):
    connection = connection_loader.get('ssh', PlayContext(), io.StringIO())
    settings = dict(host='192.0.2.7', port=2222, remote_user='handoff', ssh_args='-C -o ControlMaster=auto '
                    '-o ControlPersist=60s', control_path_dir=control_path_dir)
    settings.update(options)
    connection.set_options(direct=settings)
    return connection


def sftp_argv(connection):
    return [arg.decode() for arg in connection._build_command('sftp', 'sftp', b'[192.0.2.7]')]


def control_path(argv):
    return next(arg for arg in argv if arg.startswith('ControlPath='))


@pytest.mark.parametrize('arguments, expected', [
    ('-C -o ControlMaster=auto -o ControlPersist=60s', '-o ControlMaster=auto -o ControlPersist=60s'),
    ('-qC -o Compression=yes -oCompression=yes', '-q'),
    ('-o "ControlPath=/tmp/x %C" -o ServerAliveInterval=5', '-o ServerAliveInterval=5'),
    ('-o "Compression yes" -i /key -l user', '-i /key -l user'),
    ('-c aes128-ctr', '-c aes128-ctr'),
])
def test_without_compression_drops_only_compression_and_control_path(arguments, expected):
    assert without_compression(arguments) == expected


def test_default_settings_build_an_uncompressed_sftp_on_its_own_master(ssh_connection, tmp_path):
    connection = ssh_connection()
    compressed = sftp_argv(connection)
    with uncompressed(connection):
        plain = sftp_argv(connection)
    assert '-C' in compressed
    assert '-C' not in plain
    assert plain.index('Compression=no') < plain.index('ControlMaster=auto')
    assert control_path(plain) != control_path(compressed)
    assert control_path(plain).startswith('ControlPath="%s/' % tmp_path)
    assert sftp_argv(connection) == compressed, 'the options are restored after the transfer'


def test_a_configured_control_path_gets_a_sibling(ssh_connection, tmp_path):
    connection = ssh_connection(control_path='%(directory)s/%%h-%%r')
    with uncompressed(connection):
        assert control_path(sftp_argv(connection)) == 'ControlPath="%s/%%h-%%r-uncompressed"' % tmp_path


def test_compression_in_common_and_extra_args_is_dropped_too(ssh_connection):
    connection = ssh_connection(ssh_common_args='-o Compression=yes -o StrictHostKeyChecking=no',
                                sftp_extra_args='-C -l 8000')
    with uncompressed(connection):
        argv = sftp_argv(connection)
    assert 'Compression=yes' not in argv and '-C' not in argv
    assert 'StrictHostKeyChecking=no' in argv and '8000' in argv


def test_the_options_are_restored_when_the_transfer_fails(ssh_connection):
    connection = ssh_connection()
    before = sftp_argv(connection)
    with pytest.raises(RuntimeError):
        with uncompressed(connection):
            raise RuntimeError('transfer failed')
    assert sftp_argv(connection) == before


def test_only_the_ssh_plugin_is_handled(ssh_connection):
    assert applies_to(ssh_connection())
    assert not applies_to(connection_loader.get('local', PlayContext(), io.StringIO()))


@pytest.mark.parametrize('options, expected', [
    (dict(), True),
    (dict(ssh_args='-qC -o ControlMaster=auto'), True),
    (dict(ssh_args='-o ControlMaster=auto -o ControlPersist=60s'), False),
    (dict(ssh_args='-o Compression=yes'), True),
    (dict(ssh_args='-oCompression=no', ssh_common_args='-o Compression=yes'), False),
    (dict(ssh_args='-o Compression=no', ssh_common_args='-C'), True),
])
def test_compresses_reads_the_connection_settings_as_ssh_does(ssh_connection, options, expected):
    assert compresses(ssh_connection(**options)) is expected


def test_an_uncompressed_block_does_not_compress(ssh_connection):
    connection = ssh_connection()
    with uncompressed(connection):
        assert not compresses(connection)
    assert compresses(connection)
