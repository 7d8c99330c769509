# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The agent role: handoff.sh in place, and a cron job whose command promotes the inbox."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import AGENT_PLAY

HOSTS = ("r1", "r2")
HANDOFF_SH = Path(__file__).resolve().parents[2] / "roles" / "agent" / "files" / "handoff.sh"
CRON_NAME = "lockstep.handoff promote inbox"


def require_crontab():
    """ansible.builtin.cron needs crontab(1); install Debian's cron as the harness installs sshd."""
    if shutil.which("crontab") is None:
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=apt_env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "cron"],
                       capture_output=True, env=apt_env, check=False)
    if shutil.which("crontab") is None:
        pytest.fail("crontab is missing and `apt-get install cron` did not provide it", pytrace=False)


def cron_job(host, cron_file):
    """The command of the role's entry in ``cron_file`` (minute hour dom month dow user COMMAND)."""
    lines = host.read_bytes(cron_file).decode().splitlines()
    entry = lines[lines.index(f"#Ansible: {CRON_NAME}") + 1]
    return entry.split(None, 6)[6]


def test_shellcheck_passes_on_handoff_sh():
    done = subprocess.run(["shellcheck", "--shell=bash", str(HANDOFF_SH)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_agent_check_mode_then_real_run_then_idempotent_and_the_cron_job_promotes(role_fleet, play, workspace):
    require_crontab()
    for host in role_fleet.hosts.values():
        host.run(f"mkdir -p {workspace}/cron")
    extra_vars = {
        "handoff_agent_lib_dir": f"{workspace}/lib",
        "handoff_agent_cron": True,
        "handoff_agent_cron_file": f"{workspace}/cron/lockstep-handoff",
        "handoff_agent_cron_user": "handoff",
        "handoff_agent_inbox": f"{workspace}/inbox",
        "handoff_agent_ready_dir": f"{workspace}/ready",
    }

    checked = play(AGENT_PLAY, "--check", extra_vars=extra_vars)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not any(role_fleet.hosts[h].exists(f"{workspace}/lib") for h in HOSTS), "check mode wrote to a host"

    first = play(AGENT_PLAY, extra_vars=extra_vars)
    assert first.returncode == 0, first.stdout + first.stderr
    again = play(AGENT_PLAY, extra_vars=extra_vars)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(again.recap[h]["changed"] == 0 for h in HOSTS), again.stdout

    for name in HOSTS:
        host = role_fleet.hosts[name]
        assert host.read_bytes(f"{workspace}/lib/handoff.sh") == HANDOFF_SH.read_bytes()
        host.run(f"printf 'from {name}\\n' > {workspace}/report.src && "
                 f"bash {workspace}/lib/handoff.sh publish {workspace}/report.src {workspace}/inbox/report.txt")
        # What cron would run every minute, run once by hand.
        promoted = host.run(cron_job(host, f"{workspace}/cron/lockstep-handoff"))
        assert f"moved {workspace}/inbox/report.txt to {workspace}/ready/report.txt" in promoted.stdout
        assert host.read_bytes(f"{workspace}/ready/report.txt") == f"from {name}\n".encode()
        assert host.run(f"ls -A {workspace}/inbox").stdout.split() == []
