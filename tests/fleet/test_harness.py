# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet gives real, separate, breakable SSH hosts; each test checks one promise."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ansible.release import __version__ as ansible_core_version

from tests.support.ansible_run import REPO_ROOT, bin_path

from .harness import BECOME_USER, DATA_DIR, HostSpec, run_ansible

ALL_HOSTS = ["h1", "h2", "h3", "h4", "h5"]


CORE_VERSION = tuple(int(part) for part in ansible_core_version.split(".")[:2])


def command_output(stdout: str) -> dict[str, str]:
    """Ad-hoc ``command`` output (``h1 | CHANGED | rc=0 >>`` + text) as {host: text}."""
    blocks = re.split(r"^(\S+) \| \w+!? \| rc=-?\d+ >>\n", stdout, flags=re.M)[1:]
    return {host: text.strip() for host, text in zip(blocks[::2], blocks[1::2])}


def processes_in(mntns: str) -> list[int]:
    """Live pids in a mount namespace, read independently of the harness."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == mntns:
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("pipelining", ["True", "False"])
def test_every_host_answers_ping_over_ssh(ansible_cli, pipelining):
    result = ansible_cli("all", "-m", "ansible.builtin.ping",
                         env={"ANSIBLE_PIPELINING": pipelining})
    assert result.status == dict.fromkeys(ALL_HOSTS, "SUCCESS"), result.stdout + result.stderr
    assert result.returncode == 0


def test_each_host_has_its_own_hostname(ansible_cli):
    result = ansible_cli("h1:h2:h3", "-m", "ansible.builtin.command", "-a", "hostname")
    assert command_output(result.stdout) == {"h1": "h1", "h2": "h2", "h3": "h3"}, result.stdout


def test_each_host_has_its_own_data_dir(fleet, ansible_cli):
    path = f"{DATA_DIR}/only-on-h1-{uuid.uuid4().hex}"
    result = ansible_cli("h1", "-m", "ansible.builtin.copy", "-a", f"content=h1 dest={path}")
    try:
        assert result.status == {"h1": "CHANGED"}, result.stdout + result.stderr
        assert fleet.hosts["h1"].read_bytes(path) == b"h1"
        assert not fleet.hosts["h2"].exists(path)
        assert not fleet.hosts["h3"].exists(path)
        assert not os.path.exists(path), "the host's tmpfs leaked into the real root fs"
    finally:
        fleet.hosts["h1"].run(f"rm -f {path}")


def test_tiny_disk_host_runs_out_of_space(fleet, ansible_cli):
    path = f"{DATA_DIR}/one-mib"
    result = ansible_cli("h4", "-m", "ansible.builtin.shell",
                         "-a", f"head -c 1048576 /dev/zero > {path}")
    fleet.hosts["h4"].run(f"rm -f {path}")
    assert result.status == {"h4": "FAILED"}, result.stdout
    assert "No space left on device" in result.stdout


def test_readonly_host_refuses_writes(ansible_cli):
    result = ansible_cli("h5", "-m", "ansible.builtin.shell", "-a", f"echo x > {DATA_DIR}/x")
    assert result.status == {"h5": "FAILED"}, result.stdout
    assert "Read-only file system" in result.stdout


@pytest.mark.parametrize("pipelining", ["True", "False"])
def test_become_reaches_the_second_user(ansible_cli, pipelining):
    result = ansible_cli("h1:h2", "-b", "--become-user", BECOME_USER,
                         "-m", "ansible.builtin.command", "-a", "id -u",
                         env={"ANSIBLE_PIPELINING": pipelining})
    uid = str(pwd.getpwnam(BECOME_USER).pw_uid)
    assert command_output(result.stdout) == {"h1": uid, "h2": uid}, result.stdout + result.stderr


def test_paramiko_connection_reaches_every_host_where_core_still_has_it(ansible_cli):
    """ansible-core 2.19 ships paramiko_ssh (deprecated); 2.21 removed it and must say so."""
    result = ansible_cli("all", "-c", "paramiko_ssh", "-m", "ansible.builtin.ping")
    if CORE_VERSION < (2, 21):
        assert result.status == dict.fromkeys(ALL_HOSTS, "SUCCESS"), result.stdout + result.stderr
    else:
        assert result.returncode != 0
        assert "paramiko_ssh" in result.stdout + result.stderr


def test_playbook_runs_on_the_fleet_and_reports_the_recap(fleet, ansible_playbook):
    path = f"{DATA_DIR}/playbook-{uuid.uuid4().hex}"
    playbook = f"""
- hosts: h1:h5
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ payload }}}}"
        dest: {path}
"""
    result = ansible_playbook(playbook, extra_vars={"payload": "from -e"},
                              env={"ANSIBLE_PIPELINING": "True"})
    try:
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.recap["h1"]["changed"] == 1, result.stdout
        assert result.recap["h5"]["failed"] == 1, result.stdout
        assert fleet.hosts["h1"].read_bytes(path) == b"from -e"
    finally:
        fleet.hosts["h1"].run(f"rm -f {path}")


def test_killed_host_is_unreachable_and_others_are_not(start_fleet):
    fleet = start_fleet([HostSpec("h1"), HostSpec("h2")])
    assert run_ansible(fleet, "all", "-m", "ansible.builtin.ping").returncode == 0
    fleet.hosts["h2"].kill_sshd()
    result = run_ansible(fleet, "all", "-m", "ansible.builtin.ping")
    assert result.status == {"h1": "SUCCESS", "h2": "UNREACHABLE"}, result.stdout


def test_stop_leaves_no_process_behind(start_fleet):
    fleet = start_fleet([HostSpec("h1"), HostSpec("h2")])
    background = run_ansible(fleet, "all", "-m", "ansible.builtin.shell", "-a", "sleep 600",
                             "-B", "900", "-P", "0")
    assert background.returncode == 0, background.stdout
    namespaces = [host.mntns for host in fleet.hosts.values()]
    assert all(len(processes_in(ns)) > 1 for ns in namespaces), "no session to clean up"
    fleet.stop()
    assert [ns for ns in namespaces if processes_in(ns)] == []
    for own_dir in (fleet.workdir, fleet.control_path_dir):
        leftovers = subprocess.run(["pgrep", "-af", str(own_dir)], capture_output=True,
                                   text=True, check=False).stdout
        assert leftovers == ""
        assert not own_dir.exists()


def test_cli_up_serves_an_inventory_and_down_stops_it(fleet_machine, tmp_path):
    workdir = tmp_path / "fleet"
    cli = [sys.executable, "-m", "tests.fleet"]
    up = subprocess.Popen([*cli, "up", "--hosts", "2", "--tiny", "h2", "--workdir", str(workdir)],
                          cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        inventory = Path(up.stdout.readline().strip())
        assert inventory == workdir / "inventory.ini", up.stderr.read() if up.poll() else ""
        ping = subprocess.run([bin_path("ansible"), "-i", str(inventory), "all", "-m", "ansible.builtin.ping"],
                              env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False"},
                              capture_output=True, text=True, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        subprocess.run([*cli, "down", "--workdir", str(workdir)], cwd=REPO_ROOT, check=True)
        assert up.wait(timeout=10) == 0
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=10)
    assert not workdir.exists()
    assert subprocess.run(["pgrep", "-f", str(workdir)], check=False).returncode == 1
