# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What cancelling a job does on the target, over ssh, with real processes.

Two ways a job is cancelled, found by running them (docs/awx.md, "Cancelling"):

- The controller's whole process tree goes away (ansible-playbook, its workers and their ssh
  clients: an AWX job's container torn down, a killed terminal session). Nothing is sent to the
  module; its stdout loses its reader (POLLERR on a pipe with pipelining, POLLHUP and SIGHUP on the
  pty without). ``locked_command`` notices within a fraction of a second, stops its command's
  process group and releases the lock.
- ansible-runner cancels by SIGKILL to ansible-playbook's process group. A worker runs in a session
  of its own and survives, finishing its task for nobody. ``atomic_upload``'s action plugin, in that
  worker, sees its parent gone after the send and publishes nothing: no rename, no marker, the temp
  removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.ansible_run import ansible_env
from tests.support.fleet_runs import PATIENCE, host_processes, inside, start_playbook, wait_for
from tests.support.processes import descendants, kill_tree
from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR

# From the controller's death to the lock being free: the module polls every 0.2 s, then gives the
# command's group SIGTERM; "within seconds" with room for a loaded two-core machine.
RELEASE_SECONDS = 10
COMMAND = """
- name: A long command under a lock
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Run it
      lockstep.handoff.locked_command:
        argv: [sh, -c, 'echo $$ > {{ root }}/started; sleep 300; echo done > {{ root }}/finished']
        lock_path: "{{ root }}/job.lock"
"""
UPLOAD = """
- name: A slow upload
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        src: "{{ src }}"
        dest: "{{ dest }}"
        transfer_compression: connection
"""


def group_members(host, group):
    """Pids inside ``host`` whose process group is ``group``."""
    members = []
    for pid in host_processes(host, ""):
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[2]) == group:
                    members.append(pid)
        except OSError:
            continue
    return members


def lock_is_free(host, path):
    return host.run(f"flock -n {path} true", check=False).returncode == 0


@pytest.mark.fleet
@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_controller_gone_stops_the_command_and_frees_the_lock(fleet, tmp_path, pipelining):
    host = fleet.hosts["h2"]
    with scratch_dir([host], DATA_DIR, "cancel") as root:
        run = start_playbook(fleet, COMMAND, tmp_path / "run", env={"ANSIBLE_PIPELINING": str(pipelining)},
                             extra_vars={"target": host.name, "root": root})
        started = inside(host, f"{root}/started")
        wait_for(lambda: started.exists() and started.read_text().strip() or run.process.poll() is not None,
                 PATIENCE, what="the command to start")
        assert run.process.poll() is None, run.finish().stdout
        command = int(started.read_text())
        assert not lock_is_free(host, f"{root}/job.lock"), "the module holds the lock while the command runs"

        kill_tree(run.process.pid)  # ansible-playbook, its workers and their ssh clients; the ssh master lives
        gone_at = time.monotonic()
        run.finish()
        wait_for(lambda: lock_is_free(host, f"{root}/job.lock"), RELEASE_SECONDS, interval=0.1,
                 what="the lock to be released")
        released = time.monotonic() - gone_at
        wait_for(lambda: not group_members(host, command), RELEASE_SECONDS, interval=0.1,
                 what="the command's process group to end")
        wait_for(lambda: not host_processes(host, "AnsiballZ_locked_command"), RELEASE_SECONDS, interval=0.1,
                 what="the module to exit")
        assert not inside(host, f"{root}/finished").exists(), "the command ran to its end"
    print(f"lock free {released:.1f} s after the controller went away")


def runner_processes(token):
    """Pids on the controller whose command line holds ``token`` (the run's playbook path)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if token.encode() in handle.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


def sender(ancestor):
    """The pid of the sftp or scp process below ``ancestor`` that sends a file, or None."""
    for pid in descendants(ancestor):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                program = os.path.basename(handle.read().split(b"\0", 1)[0])
        except OSError:
            continue
        if program in (b"sftp", b"scp"):
            return pid
    return None


@pytest.mark.fleet
def test_ansible_runner_cancel_publishes_nothing(fleet, tmp_path):
    host = fleet.hosts["h3"]
    src = tmp_path / "large.bin"
    src.write_bytes(os.urandom(96 * 1024 * 1024))
    # A direct transfer needs a private directory: the temp beside dest then shows that the send began.
    root = host.run("mktemp -d ~/cancel-XXXXXXXX").stdout.strip()
    dest = f"{root}/large.bin"
    playbook = tmp_path / "upload.yml"
    playbook.write_text(UPLOAD)
    runner = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ansible-runner"), "run", str(tmp_path / "private"),
         "-p", str(playbook), "--inventory", str(fleet.inventory),
         "--cmdline", f"-e target={host.name} -e src={src} -e dest={dest}"],
        # ansible-runner starts the ansible-playbook it finds on PATH: this controller's, as if its venv were active.
        env=ansible_env({**fleet.ansible_env, "ANSIBLE_PIPELINING": "True",
                         "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: sender(runner.pid) or runner.poll() is not None, PATIENCE, interval=0.005,
                 what="the transfer to start")
        assert runner.poll() is None, "the upload ended before it could be cancelled"
        # ansible-runner notices a SIGTERM only between two waits for output (up to 5 s apart); a fast machine
        # sends 96 MiB sooner. The transfer is held still until the cancel has killed ansible-playbook, so
        # that the cancel lands while the bytes travel on every machine.
        transfer = sender(runner.pid)
        os.kill(transfer, signal.SIGSTOP)
        try:
            runner.send_signal(signal.SIGTERM)
            assert runner.wait(timeout=PATIENCE) == 254
        finally:
            os.kill(transfer, signal.SIGCONT)
        status = next((tmp_path / "private" / "artifacts").glob("*/status")).read_text()
        assert status == "canceled"
        assert runner_processes(str(playbook)), "the worker, in a session of its own, outlives the cancel"
        wait_for(lambda: not runner_processes(str(playbook)), PATIENCE, interval=0.1,
                 what="the orphaned worker to finish its transfer")
        assert os.listdir(inside(host, root)) == [], "no data, no marker, no temp after the cancel"
    finally:
        for pid in runner_processes(str(playbook)):
            kill_tree(pid)
        host.run(f"rm -rf {root}", check=False)
