# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload's transfer_compression, read from the sftp command lines ansible-core really ran.

ansible.builtin.ssh's default ssh_args carry ``-C``; ssh compression costs far more CPU time than a
loopback or LAN link saves (1 GiB: 4.4 s plain, 31.9 s with -C, measured on this fleet). With
transfer_compression=auto a file of 8 MiB or more goes without it, over an ssh master of its own;
smaller files and transfer_compression=connection keep the connection's settings; off always drops
compression. At -vvv ansible-core logs ``PUT <local> TO <remote>`` and then the ``SSH: EXEC sftp``
command line of that transfer, so the test pairs each source file with the command that sent it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex

import pytest

from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR

MIB = 1024 * 1024
# file name -> (size, transfer_compression, whether its sftp command may compress)
CASES = {
    "small-auto.bin": (64 * 1024, "auto", True),
    "large-auto.bin": (8 * MIB, "auto", False),
    "large-connection.bin": (8 * MIB, "connection", True),
    "small-off.bin": (64 * 1024, "off", False),
}
PLAYBOOK = """
- name: Publish one file per transfer_compression case
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish {{ item.name }}
      lockstep.handoff.atomic_upload:
        src: "{{ sources }}/{{ item.name }}"
        dest: "{{ root }}/{{ item.name }}"
        transfer_compression: "{{ item.setting }}"
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.name }}"
    - name: Checksum the large file over the connection the small uploads share
      ansible.builtin.command: "sha256sum {{ root }}/large-auto.bin"
      register: after
      changed_when: false
    - name: Show the checksum the remote host sees
      ansible.builtin.debug:
        msg: "remote-sha256={{ after.stdout.split()[0] }}"
"""
PUT = re.compile(r"PUT (\S+) TO (\S+)")
EXEC_SFTP = re.compile(r"SSH: EXEC (sftp .*)$")


def _sftp_commands(output: str, names) -> dict[str, list[list[str]]]:
    """Name in ``names`` -> argvs of the sftp commands that sent that file (the EXEC line after its PUT);
    the modules' own files, sent the same way without pipelining, are left out."""
    commands, pending = {}, None
    for line in output.splitlines():
        put = PUT.search(line)
        if put:
            pending = os.path.basename(put.group(1))
            continue
        sftp = EXEC_SFTP.search(line)
        if sftp and pending in names:
            commands.setdefault(pending, []).append(shlex.split(sftp.group(1)))
            pending = None
    return commands


def _compresses(argv: list[str]) -> bool:
    """Whether ssh would compress: ``-C`` or ``Compression=yes``, unless an earlier ``Compression=no`` wins."""
    options = [argv[i + 1].replace(" ", "=").lower() for i, arg in enumerate(argv[:-1]) if arg == "-o"]
    compression = [value.split("=", 1)[1] for value in options if value.startswith("compression=")]
    if compression:
        return compression[0] == "yes"
    return "-C" in argv


def _control_path(argv: list[str]) -> str:
    return next(argv[i + 1] for i, arg in enumerate(argv[:-1])
                if arg == "-o" and argv[i + 1].lower().startswith("controlpath="))


@pytest.mark.fleet
def test_transfer_compression_decides_the_sftp_command_line(fleet, ansible_playbook, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    for name, (size, _setting, _compressed) in CASES.items():
        (sources / name).write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32))
    cases = [{"name": name, "setting": setting} for name, (_size, setting, _compressed) in CASES.items()]
    host = fleet.hosts["h1"]
    with scratch_dir([host], DATA_DIR, "compression") as root:
        run = ansible_playbook(PLAYBOOK, "-vvv", extra_vars={"sources": str(sources), "root": root, "cases": cases})
        assert run.returncode == 0, run.stdout[-6000:]
        landed = {name: host.read_bytes(f"{root}/{name}") for name in CASES}

    commands = _sftp_commands(run.stdout, CASES)
    assert sorted(commands) == sorted(CASES), f"one sftp transfer per case expected, got {sorted(commands)}"
    for name, (_size, setting, compressed) in CASES.items():
        assert len(commands[name]) == 1, f"{name}: sent {len(commands[name])} times"
        argv = commands[name][0]
        assert _compresses(argv) is compressed, f"{name} ({setting}): {shlex.join(argv)}"
        assert landed[name] == (sources / name).read_bytes(), f"{name}: bytes differ on h1"
    shared = _control_path(commands["small-auto.bin"][0])
    assert _control_path(commands["large-auto.bin"][0]) != shared, "an uncompressed master of its own"
    assert _control_path(commands["large-connection.bin"][0]) == shared
    assert "without compression" in run.stdout
    sha = hashlib.sha256((sources / "large-auto.bin").read_bytes()).hexdigest()
    assert f"remote-sha256={sha}" in run.stdout, "the shared connection works after the uncompressed transfer"
