# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of real SSH hosts on this one machine, for tests and benchmarks.

Each host is an ``sshd`` on its own loopback address, started in its own mount and UTS
namespace with a private tmpfs at ``/srv/handoff``: every host has the same paths, its
own hostname and its own files, and a test can give a host a tiny disk (ENOSPC), a
read-only mount, or kill it. Starting a fleet needs root.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from tests.support.ansible_run import AdHocRun, PlaybookRun, run_adhoc, write_playbook
from tests.support.ansible_run import run_playbook as support_run_playbook

LOGIN_USER = "handoff"
BECOME_USER = "handoff2"
DATA_DIR = "/srv/handoff"
SSHD = "/usr/sbin/sshd"
SUDOERS_FILE = "/etc/sudoers.d/lockstep-handoff-fleet"
LOCK_FILE = "/run/lockstep-handoff-fleet.lock"
STATE_FILE = "fleet.json"
DEFAULT_DISK_SIZE = "512m"
TINY_DISK_SIZE = "256k"
START_TIMEOUT = 15.0
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")


class FleetError(RuntimeError):
    """A fleet could not be started, reached or stopped; the message says why."""


@dataclass(frozen=True)
class HostSpec:
    """What a host should look like: its name, its disk size, whether its disk is read-only."""

    name: str
    disk_size: str = DEFAULT_DISK_SIZE
    readonly: bool = False


@dataclass(eq=False)
class Host:
    """One running host: its sshd (the namespace's first process) and a way to look inside."""

    spec: HostSpec
    address: str
    dir: Path
    pid: int | None = None
    mntns: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The inventory name, which is also the hostname inside the host."""
        return self.spec.name

    def run(self, command: str, user: str = LOGIN_USER, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command inside the host as ``user``; text in, text out (C locale).
        With ``check``, a non-zero exit raises FleetError carrying the command's stderr."""
        return self._exec(["sh", "-c", command], user, check, stdin, text=True)

    def read_bytes(self, path: str, user: str = LOGIN_USER) -> bytes:
        """Read a file as the host sees it (its own /srv/handoff)."""
        return self._exec(["cat", "--", path], user, True, None, text=False).stdout

    def write_bytes(self, path: str, data: bytes, user: str = LOGIN_USER) -> None:
        """Write a file inside the host, as ``user``, so ownership is what a login would give."""
        self._exec(["sh", "-c", 'cat > "$1"', "sh", path], user, True, data, text=False)

    def exists(self, path: str, user: str = LOGIN_USER) -> bool:
        """Whether ``path`` exists inside the host."""
        return self._exec(["test", "-e", path], user, False, None, text=True).returncode == 0

    def kill_sshd(self) -> None:
        """SIGKILL the host's sshd and its sessions: new and multiplexed connections both fail."""
        if self.pid is not None:
            _kill_namespace(self.pid, self.mntns)
            if self.process is not None:
                self.process.wait()
            self.pid = None

    def _exec(self, argv: list[str], user: str, check: bool, stdin, text: bool):
        """Run argv in the host's mount and UTS namespaces, as ``user``, with a clean env."""
        if self.pid is None:
            raise FleetError(f"{self.name}: its sshd was killed; nothing runs inside it any more")
        account = pwd.getpwnam(user)
        inside = [
            "nsenter", "-t", str(self.pid), "-m", "-u", "--",
            "setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups",
            "env", "-i", f"HOME={account.pw_dir}", f"USER={user}", f"LOGNAME={user}",
            f"PATH={SEARCH_PATH}", "LC_ALL=C",
        ]
        proc = subprocess.run(inside + argv, input=stdin, capture_output=True, text=text, cwd="/",
                              check=False)
        if check and proc.returncode != 0:
            stderr = proc.stderr if text else proc.stderr.decode(errors="replace")
            raise FleetError(f"{self.name}: {shlex.join(argv)} as {user} exited "
                             f"{proc.returncode}: {stderr.strip()}")
        return proc


class Fleet:
    """Running hosts, their inventory and their working dir; stop() leaves nothing behind."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.hosts: dict[str, Host] = {}
        self.inventory = workdir / "inventory.ini"
        self.private_key = workdir / "id_ed25519"
        # ssh mux sockets: a unix socket path has at most 107 bytes, too few for a deep workdir
        self.control_path_dir = Path(tempfile.mkdtemp(prefix="fleet-cp-", dir="/tmp"))
        self.ansible_env = {"ANSIBLE_HOST_KEY_CHECKING": "False"}

    @classmethod
    def start(cls, hosts: Sequence[HostSpec], workdir: str | Path | None = None,
              subnet: str | None = None, timeout: float = START_TIMEOUT) -> Fleet:
        """Start every host and return once each accepts an ssh login; on failure stop all."""
        if not hosts or len({spec.name for spec in hosts}) != len(hosts):
            raise FleetError(f"host names must be present and unique: {[s.name for s in hosts]}")
        reason = unavailable_reason()
        if reason:
            raise FleetError(reason)
        fleet = cls(_claim_workdir(workdir))
        atexit.register(fleet.stop)
        try:
            with _machine_lock():
                _provision_machine()
                addresses = _free_addresses(subnet, len(hosts))
                fleet.hosts = {spec.name: Host(spec, address, fleet.workdir / spec.name)
                               for spec, address in zip(hosts, addresses)}
                fleet._write_files()
                fleet._launch(timeout)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    @staticmethod
    def stop_recorded(workdir: str | Path) -> None:
        """Stop a fleet from its state file (``down``): ask its owner, then kill what is left."""
        workdir = Path(workdir)
        try:
            state = json.loads((workdir / STATE_FILE).read_text())
        except FileNotFoundError:
            raise FleetError(f"no fleet recorded in {workdir} ({STATE_FILE} missing)") from None
        owner = state["owner"]
        if owner["pid"] != os.getpid() and _same_process(owner["pid"], owner["started"]):
            os.kill(owner["pid"], signal.SIGTERM)
            _wait_until(lambda: not _same_process(owner["pid"], owner["started"]), 10.0)
        for host in state["hosts"].values():
            if _same_process(host["pid"], host["started"]):
                _kill_namespace(host["pid"], host["mntns"])
        shutil.rmtree(state["control_path_dir"], ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    def stop(self) -> None:
        """Kill every process of every host, by pid, then remove the working dirs."""
        atexit.unregister(self.stop)
        for host in self.hosts.values():
            host.kill_sshd()
        _wait_until(lambda: not _pids_mentioning(str(self.control_path_dir)), 2.0)
        shutil.rmtree(self.control_path_dir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _write_files(self) -> None:
        """Keys, sshd configs and the inventory, all inside the workdir."""
        _keygen([self.private_key] + [h.dir / "ssh_host_ed25519_key" for h in self.hosts.values()])
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(self.private_key.with_suffix(".pub").read_text())
        for host in self.hosts.values():
            (host.dir / "sshd_config").write_text(_sshd_config(host, authorized))
            (host.dir / "hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
        self.inventory.write_text(_inventory(self))

    def _launch(self, timeout: float) -> None:
        """Start all sshds at once, then wait for all; a fleet starts in about the time of one."""
        for host in self.hosts.values():
            with open(host.dir / "sshd.log", "wb") as log:
                host.process = subprocess.Popen(
                    ["unshare", "-m", "-u", "--propagation", "private",
                     "sh", "-c", _host_script(host)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            host.pid = host.process.pid
        deadline = time.monotonic() + timeout
        for host in self.hosts.values():
            _wait_listening(host, deadline)
            host.mntns = os.readlink(f"/proc/{host.pid}/ns/mnt")
        self._record_state()
        self._check_logins(deadline)

    def _check_logins(self, deadline: float) -> None:
        """An open port is not enough: prove the key, the account and the shell work."""
        checks = {
            host: subprocess.Popen(
                ["ssh", "-i", str(self.private_key), *SSH_OPTIONS, "-o", "BatchMode=yes",
                 "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=5",
                 f"{LOGIN_USER}@{host.address}", "hostname"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for host in self.hosts.values()
        }
        for host, check in checks.items():
            try:
                out, err = check.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            except subprocess.TimeoutExpired:
                check.kill()
                raise FleetError(f"{host.name}: ssh login timed out\n{_log_tail(host)}") from None
            if check.returncode != 0 or out.strip() != host.name:
                raise FleetError(f"{host.name}: ssh login as {LOGIN_USER} failed "
                                 f"(rc={check.returncode}, out={out.strip()!r}): {err.strip()}\n"
                                 f"{_log_tail(host)}")

    def _record_state(self) -> None:
        """Pids and namespaces in the workdir, so ``down`` can stop a fleet from another process."""
        state = {
            "owner": {"pid": os.getpid(), "started": _start_time(os.getpid())},
            "control_path_dir": str(self.control_path_dir),
            "hosts": {h.name: {"pid": h.pid, "started": _start_time(h.pid), "mntns": h.mntns,
                               "address": h.address} for h in self.hosts.values()},
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))


def run_ansible(fleet: Fleet, pattern: str, *args: str,
                env: Mapping[str, str] | None = None) -> AdHocRun:
    """Run ``ansible`` against the fleet, e.g. ``run_ansible(f, "all", "-m", "ping")``."""
    return run_adhoc(fleet.inventory, pattern, *args, env={**fleet.ansible_env, **(env or {})})


def run_playbook(fleet: Fleet, playbook: str | os.PathLike, *args: str,
                 extra_vars: Mapping[str, object] | None = None,
                 env: Mapping[str, str] | None = None) -> PlaybookRun:
    """Run ``ansible-playbook`` against the fleet; ``playbook`` is a path, or YAML text if multi-line."""
    with tempfile.TemporaryDirectory(prefix="fleet-play-") as tmp:
        path = Path(playbook) if _is_path(playbook) else Path(write_playbook(str(playbook), tmp))
        return support_run_playbook(path, fleet.inventory, extra_vars, env={**fleet.ansible_env, **(env or {})},
                                    args=args)


def unavailable_reason() -> str | None:
    """Why this machine cannot run a fleet, or None; installs sshd/sudo when root and missing."""
    if os.geteuid() != 0:
        return ("fleet tests need root: sshd in mount namespaces, tmpfs mounts, "
                "useradd and sudoers")
    if _missing_packages():
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=apt_env, check=False)
        apt = subprocess.run(["apt-get", "install", "-y", "-qq", *_missing_packages()],
                             capture_output=True, text=True, env=apt_env, check=False)
        if _missing_packages():
            return (f"fleet tests need {SSHD} and sudo; apt-get could not install "
                    f"{' '.join(_missing_packages())}: {apt.stderr.strip()[-300:]}")
    return None


def _missing_packages() -> list[str]:
    """Debian packages whose program a fleet needs and this machine lacks."""
    return [package for package, program in (("openssh-server", SSHD), ("sudo", "/usr/bin/sudo"))
            if not os.access(program, os.X_OK)]


def _is_path(playbook: str | os.PathLike) -> bool:
    """A PathLike or a one-line string names a file; anything else is the playbook itself."""
    return isinstance(playbook, os.PathLike) or "\n" not in playbook


def _claim_workdir(workdir: str | Path | None) -> Path:
    """A fresh or empty dir, ours alone: stop() deletes it."""
    if workdir is None:
        path = Path(tempfile.mkdtemp(prefix="fleet-"))
    else:
        path = Path(workdir).absolute()
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise FleetError(f"workdir {path} is not empty (a fleet still up? "
                             f"`python -m tests.fleet down --workdir {path}`)")
    return path


@contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialise fleet starts: useradd and address picking race between parallel runs."""
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _provision_machine() -> None:
    """Users, sudo rule and dirs every host needs; idempotent and cheap when already done."""
    _ensure_user(LOGIN_USER)
    _ensure_user(BECOME_USER, LOGIN_USER)
    _unlock_for_ssh(LOGIN_USER)
    _install_sudoers(f"{LOGIN_USER} ALL=({BECOME_USER}) NOPASSWD: ALL\n")
    os.makedirs(DATA_DIR, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def _ensure_user(name: str, extra_group: str | None = None) -> None:
    """Create ``name`` with a home and a real shell; add it to ``extra_group``."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-U", "-s", "/bin/bash", name], check=True)
    if extra_group and name not in _group_members(extra_group):
        subprocess.run(["usermod", "-a", "-G", extra_group, name], check=True)


def _group_members(group: str) -> list[str]:
    """Supplementary members of ``group`` from /etc/group (grp may be cached by nscd)."""
    for line in Path("/etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return fields[3].split(",") if fields[3] else []
    return []


def _unlock_for_ssh(name: str) -> None:
    """useradd leaves ``!`` in shadow and sshd refuses locked accounts even with a key."""
    for line in Path("/etc/shadow").read_text().splitlines():
        user, password = line.split(":")[:2]
        if user == name and password.startswith("!"):
            subprocess.run(["usermod", "-p", "*", name], check=True)


def _install_sudoers(rule: str) -> None:
    """Write the sudo rule atomically, only after ``visudo -cf`` accepts it."""
    target = Path(SUDOERS_FILE)
    if target.exists() and target.read_text() == rule:
        return
    staged = target.with_name("." + target.name)
    staged.write_text(rule)
    staged.chmod(0o440)
    subprocess.run(["visudo", "-cqf", str(staged)], check=True, capture_output=True)
    staged.replace(target)


def _free_addresses(subnet: str | None, count: int) -> list[str]:
    """``count`` loopback addresses with port 22 free: ``subnet`` or the first free 127.0.x."""
    for candidate in [subnet] if subnet else [f"127.0.{x}" for x in range(77, 100)]:
        addresses = [f"{candidate}.{i}" for i in range(1, count + 1)]
        if all(_port_free(address) for address in addresses):
            return addresses
    raise FleetError(f"no free addresses for {count} hosts on port 22 "
                     f"({subnet or '127.0.77-99'}.x); is another fleet up?")


def _port_free(address: str) -> bool:
    """Whether sshd could bind ``address``:22 (it sets SO_REUSEADDR too)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, 22))
        except OSError:
            return False
    return True


def _keygen(paths: list[Path]) -> None:
    """ed25519 keys, generated in parallel (one ssh-keygen each)."""
    for path in paths:
        path.parent.mkdir(exist_ok=True)
    jobs = [subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name,
                              "-f", str(path)], stdin=subprocess.DEVNULL) for path in paths]
    if any(job.wait() != 0 for job in jobs):
        raise FleetError("ssh-keygen failed")


def _sshd_config(host: Host, authorized_keys: Path) -> str:
    """A self-contained sshd config; nothing is read from /etc/ssh."""
    return "\n".join([
        f"ListenAddress {host.address}:22",
        f"HostKey {host.dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host.dir / 'sshd.pid'}",
        "AuthorizedKeysFile none",
        f"AuthorizedKeysCommand /bin/cat {authorized_keys}",
        "AuthorizedKeysCommandUser root",
        f"AllowUsers {LOGIN_USER}",
        "PermitRootLogin no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "MaxStartups 100:30:200",
        "MaxSessions 100",
        "Subsystem sftp internal-sftp",
        "",
    ])


def _host_script(host: Host) -> str:
    """Runs inside the new namespaces: hostname, private /etc/hosts (sudo resolves the
    hostname) and tmpfs, then sshd in place of the shell, so the sshd pid is the host's."""
    account = pwd.getpwnam(LOGIN_USER)
    options = (f"size={host.spec.disk_size},mode=0775,uid={account.pw_uid},gid={account.pw_gid}"
               + (",ro" if host.spec.readonly else ""))
    return " && ".join([
        f"hostname {shlex.quote(host.name)}",
        f"mount --bind {shlex.quote(str(host.dir / 'hosts'))} /etc/hosts",
        f"mount -t tmpfs -o {options} tmpfs {DATA_DIR}",
        f"exec {SSHD} -D -e -f {shlex.quote(str(host.dir / 'sshd_config'))}",
    ])


def _wait_listening(host: Host, deadline: float) -> None:
    """Poll the host's port 22; fail fast with sshd's log if it exits or the time runs out."""
    while True:
        if host.process.poll() is not None:
            raise FleetError(f"{host.name}: sshd exited with {host.process.returncode}\n"
                             f"{_log_tail(host)}")
        with socket.socket() as sock:
            if sock.connect_ex((host.address, 22)) == 0:
                return
        if time.monotonic() > deadline:
            raise FleetError(f"{host.name}: nothing listens on {host.address}:22\n{_log_tail(host)}")
        time.sleep(0.01)


def _log_tail(host: Host) -> str:
    """The end of a host's sshd log (``sshd -e`` writes its errors there)."""
    try:
        text = (host.dir / "sshd.log").read_text(errors="replace")
    except OSError:
        text = ""
    return f"--- {host.dir / 'sshd.log'} ---\n" + "\n".join(text.splitlines()[-20:])


def _kill_namespace(leader: int, mntns: str | None) -> None:
    """SIGKILL the leader (no new sessions) then every process left in its mount namespace."""
    _kill(leader)
    if mntns is None or mntns == os.readlink("/proc/self/ns/mnt"):
        return

    def all_gone() -> bool:
        survivors = _pids_in_namespace(mntns)
        for pid in survivors:
            _kill(pid)
        return not survivors

    if not _wait_until(all_gone, 10.0):
        raise FleetError(f"processes in namespace {mntns} survive SIGKILL")


def _pids_in_namespace(mntns: str) -> list[int]:
    """Live processes whose mount namespace is ``mntns`` (zombies have none)."""
    return _pids_where(lambda pid: os.readlink(f"/proc/{pid}/ns/mnt") == mntns)


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text``, e.g. the ssh mux masters of a fleet."""
    needle = text.encode()
    return _pids_where(lambda pid: needle in Path(f"/proc/{pid}/cmdline").read_bytes())


def _pids_where(matches: Callable[[str], bool]) -> list[int]:
    """Pids in /proc for which ``matches`` holds; processes that vanish meanwhile are skipped."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and matches(entry):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` if it still exists."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start_time(pid: int) -> int | None:
    """Start time (field 22 of /proc/PID/stat) of a live process: with the pid, it names one
    process even after pid reuse; None once the process is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _same_process(pid: int, started: int) -> bool:
    """Whether ``pid`` is still the live process recorded with start time ``started``."""
    return _start_time(pid) == started


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 10 ms for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _inventory(fleet: Fleet) -> str:
    """An INI inventory: one line per host, connection settings shared in [all:vars]."""
    lines = ["[fleet]"]
    lines += [f"{h.name} ansible_host={h.address}" for h in fleet.hosts.values()]
    lines += [
        "",
        "[all:vars]",
        f"ansible_user={LOGIN_USER}",
        f"ansible_ssh_private_key_file={fleet.private_key}",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_common_remote_group={LOGIN_USER}",
        f"ansible_control_path_dir={fleet.control_path_dir}",
        f"ansible_ssh_common_args='{' '.join(SSH_OPTIONS)}'",
        "",
    ]
    return "\n".join(lines)
