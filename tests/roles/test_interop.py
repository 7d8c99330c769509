# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""handoff.sh and the modules hand files to each other, both ways, with several parties at once.

Ansible -> shell: the deliver role publishes while several shell consumers per host race
to promote the inbox; every file must be moved exactly once, whole.
Shell -> Ansible: several shell producers per host publish while the promote role waits
for their markers and moves the files; every file must arrive whole, exactly once. A batch
locked_move (files + wait) takes twenty files a shell producer publishes in one module run.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.fleet.harness import run_playbook
from tests.support.fleet_runs import ResultLog

HOSTS = ("r1", "r2")
FILES = 6  # at most 9: the checks glob file-[0-9]
PARTIES = 3
DEADLINE = 120

CONSUMERS = r"""
consume() {
  end=$(($(date +%s) + DEADLINE))
  while [ "$(date +%s)" -lt "$end" ]; do
    HANDOFF_LOCK_TIMEOUT=10 bash LIB promote-inbox WS/inbox WS/ready >>WS/consumer-$1.log 2>&1
    [ "$(find WS/ready -maxdepth 1 -type f ! -name '*.lock' | wc -l)" -ge FILES ] && return 0
    sleep 0.3
  done
  return 1
}
mkdir -p WS/inbox WS/ready
for n in $(seq PARTIES); do consume "$n" & done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
cat WS/consumer-*.log
exit $status
"""

PRODUCERS = r"""
produce() {
  for i in $(seq "$1" PARTIES FILES); do
    head -c $((4096 * i)) /dev/urandom > WS/src-$i
    sleep 0.$((RANDOM % 4))
    bash LIB publish WS/src-$i WS/inbox/file-$i || return 1
  done
}
for n in $(seq PARTIES); do produce "$n" & done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
sha256sum WS/src-* | sed 's|WS/src-||'
exit $status
"""


def bash_script(template, **values):
    """A bash command line from a template whose placeholders are bare upper-case words."""
    for name, value in values.items():
        template = template.replace(name.upper(), str(value))
    return "bash -c " + shlex.quote(template)


def in_background(role_fleet, template, **values):
    """Start ``template`` on every host at once; return {host: future of its CompletedProcess}."""
    pool = ThreadPoolExecutor(max_workers=len(HOSTS))
    futures = {name: pool.submit(role_fleet.hosts[name].run, bash_script(template, **values), check=False)
               for name in HOSTS}
    pool.shutdown(wait=False)
    return futures


def test_files_ansible_publishes_are_taken_once_by_racing_shell_consumers(role_fleet, play, agent_lib,
                                                                          workspace):
    payloads = {f"file-{i}": hashlib.sha256(str(i).encode()).hexdigest() * (i * 40) for i in range(1, FILES + 1)}
    consumers = in_background(role_fleet, CONSUMERS, lib=agent_lib, ws=workspace, files=FILES,
                              parties=PARTIES, deadline=DEADLINE)

    run = play("lockstep.handoff.deliver", extra_vars={"handoff_deliver_files": [
        {"content": text, "dest": f"{workspace}/inbox/{name}"} for name, text in payloads.items()]})
    assert run.returncode == 0, run.stdout + run.stderr

    for name in HOSTS:
        done = consumers[name].result(timeout=DEADLINE + 30)
        assert done.returncode == 0, f"{name}: consumers gave up\n{done.stdout}{done.stderr}"
        moves = re.findall(r"^handoff_move: moved \S+/inbox/(\S+) to ", done.stdout, re.M)
        assert sorted(moves) == sorted(payloads), f"{name}: each file must move exactly once\n{done.stdout}"
        host = role_fleet.hosts[name]
        for file_name, text in payloads.items():
            assert host.read_bytes(f"{workspace}/ready/{file_name}") == text.encode()
        left = host.run(f"ls -A {workspace}/inbox").stdout.split()
        assert left == sorted(f"{n}.lock" for n in payloads), f"{name}: markers or data left: {left}"


def test_files_shell_producers_publish_are_promoted_once_by_the_role(role_fleet, play, agent_lib, workspace,
                                                                     tmp_path):
    for host in role_fleet.hosts.values():
        host.run(f"mkdir -p {workspace}/inbox")
    names = [f"file-{i}" for i in range(1, FILES + 1)]
    promoted = {}
    log = ResultLog(tmp_path / "results.jsonl")
    promote = threading.Thread(target=lambda: promoted.update(run=run_playbook(
        role_fleet, "lockstep.handoff.promote", env={"ANSIBLE_PIPELINING": "True", **log.env()}, extra_vars={
            "handoff_promote_files": [{"src": f"{workspace}/inbox/{n}", "dest": f"{workspace}/ready/{n}"}
                                      for n in names],
            "handoff_promote_timeout": DEADLINE,
            "handoff_promote_sleep": 0.2,
        })))
    promote.start()
    producers = in_background(role_fleet, PRODUCERS, lib=agent_lib, ws=workspace, files=FILES, parties=PARTIES)
    promote.join(timeout=DEADLINE + 60)
    run = promoted["run"]
    assert run.returncode == 0, run.stdout + run.stderr

    for name in HOSTS:
        done = producers[name].result(timeout=30)
        assert done.returncode == 0, f"{name}: a producer failed\n{done.stdout}{done.stderr}"
        published = dict(line.split()[::-1] for line in done.stdout.splitlines())
        host = role_fleet.hosts[name]
        arrived = dict(line.split()[::-1] for line in host.run(
            f"cd {workspace}/ready && sha256sum file-[0-9]").stdout.splitlines())
        assert arrived == {f"file-{i}": published[i] for i in map(str, range(1, FILES + 1))}
        batch = log.one("lockstep.handoff.promote : Promote | Wait for the markers and move the files, or roll them back",
                        name)["result"]["results"]
        moved = [result["src"].rsplit("/", 1)[1] for result in batch if result["status"] == "moved"]
        assert sorted(moved) == sorted(names), f"{name}: each file must be moved once by the role"
        assert host.run(f"ls -A {workspace}/inbox").stdout.split() == [], f"{name}: data or markers left"


BATCH = 20
SHELL_PRODUCER = r"""
for i in $(seq BATCH); do
  head -c $((1024 + i)) /dev/urandom > WS/src-$i
  sleep 0.0$((RANDOM % 10))
  bash LIB publish WS/src-$i WS/inbox/conf-$i || exit 1
done
sha256sum WS/src-* | sed 's|WS/src-|conf-|'
"""
BATCH_PLAY = """
- name: Take what handoff.sh publishes, twenty files in one task
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait for each marker and move each file
      lockstep.handoff.locked_move:
        files: "{{ files }}"
        wait: true
        timeout: 120
        create_parents: true
"""
# At -vvv without pipelining, each module run is one ssh EXEC of python on its AnsiballZ file.
MODULE_EXEC = re.compile(r"^<(?P<address>[\d.]+)> SSH: EXEC .*?python[\d.]* \S*/AnsiballZ_(?P<module>\w+)\.py", re.M)


def test_a_batch_move_takes_twenty_files_handoff_sh_publishes_in_one_module_run(
        role_fleet, agent_lib, workspace, tmp_path):
    names = [f"conf-{i}" for i in range(1, BATCH + 1)]
    for host in role_fleet.hosts.values():
        host.run(f"mkdir -p {workspace}/inbox")
    log = ResultLog(tmp_path / "results.jsonl")
    consumed = {}
    consumer = threading.Thread(target=lambda: consumed.update(run=run_playbook(
        role_fleet, BATCH_PLAY, "-vvv", env={"ANSIBLE_PIPELINING": "False", **log.env()}, extra_vars={
            "files": [{"src": f"{workspace}/inbox/{n}", "dest": f"{workspace}/etc/{n}"} for n in names]})))
    consumer.start()
    producers = in_background(role_fleet, SHELL_PRODUCER, lib=agent_lib, ws=workspace, batch=BATCH)
    consumer.join(timeout=DEADLINE + 60)
    done = {name: producers[name].result(timeout=30) for name in HOSTS}
    for name in HOSTS:
        assert done[name].returncode == 0, f"{name}: the producer failed\n{done[name].stdout}{done[name].stderr}"
    run = consumed["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr

    runs = Counter((match["address"], match["module"]) for match in MODULE_EXEC.finditer(run.stdout))
    assert runs == Counter({(host.address, "locked_move"): 1 for host in role_fleet.hosts.values()}), runs
    for name in HOSTS:
        published = dict(line.split()[::-1] for line in done[name].stdout.splitlines())
        host = role_fleet.hosts[name]
        arrived = dict(line.split()[::-1] for line in host.run(
            f"cd {workspace}/etc && sha256sum conf-*[0-9]").stdout.splitlines())
        assert arrived == published and len(arrived) == BATCH
        results = log.one("Wait for each marker and move each file", name)["result"]["results"]
        assert [(r["src"], r["status"]) for r in results] == [(f"{workspace}/inbox/{n}", "moved") for n in names]
        assert host.run(f"ls -A {workspace}/inbox").stdout.split() == [], f"{name}: data or markers left"
