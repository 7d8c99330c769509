# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Races on a real SSH host: an outside observer during publishes, producers racing, consumers racing.

Every producer and consumer is its own ansible-playbook process, as separate
cron jobs or CI pipelines would be; the observer is a plain SFTP client that
knows nothing of the protocol but what a reader sees.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import paramiko
import pytest

from tests.support.fleet_runs import PATIENCE, ResultLog, processes_with_open, start_playbook, wait_for
from tests.support.handoff_state import sha256_bytes
from tests.support.host_handoff import marker_bytes, scratch_dir, stable_look

from .harness import DATA_DIR, LOGIN_USER

PIPELINED = {"ANSIBLE_PIPELINING": "True"}
PUBLISHES_PER_OBSERVED_RUN = 8
PUBLISHES_PER_PRODUCER = 2
CONSUMERS = 8
FILES = 200
# A module run costs about 0.3 s of CPU, so 8 consumers x 200 files one task each would take minutes on
# two cores. Each consumer takes SHARED_FILES files one task each (all eight racing for each at once),
# then drains the whole inbox in one task (all eight racing for every other file).
SHARED_FILES = 4
# Files still arriving: data without a marker, which no consumer may take. Their names sort first, so a
# drain spends a moment judging them before it reaches the marked files that others are moving.
UNMARKED = 400
# Drains start this far apart and each drains this often, so that the inbox is listed while other
# consumers are moving files out of it.
DRAIN_STAGGER = 0.05
DRAIN_ROUNDS = 2
OBSERVED = """
- name: Publish alternating versions
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        src: "{{ item }}"
        dest: "{{ root }}/data.bin"
      loop: "{{ sources }}"
"""
PRODUCER = """
- name: One producer of a shared file
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish
      lockstep.handoff.atomic_upload:
        content: "{{ ('producer %s publish %s\\n' % (producer, item)) * 4096 }}"
        dest: "{{ root }}/shared.txt"
        lock: true
        lock_timeout: 600
      loop: "{{ range(1, publishes + 1) | list }}"
"""
CONSUMER = """
- name: One consumer of many files
  hosts: h1
  gather_facts: false
  tasks:
    - name: Consume
      lockstep.handoff.locked_move:
        src: "{{ root }}/in/{{ item }}"
        dest: "{{ root }}/out/{{ item }}"
        lock_timeout: 600
      loop: "{{ shared }}"
    - name: Wait for the start signal
      lockstep.handoff.wait_for_marker:
        path: "{{ root }}/go/{{ consumer }}"
        timeout: 600
    - name: Drain the inbox
      lockstep.handoff.locked_move:
        src: "{{ root }}/in"
        dest: "{{ root }}/out"
        lock_timeout: 600
      loop: "{{ range(drain_rounds) | list }}"
"""
# Plants the files listed in ROOT/plant.json ({name: [data, marker or null]}) in one process on the host:
# one host.run per file would cost a process start each.
PLANT_MANY = r"""
import json, os, sys
root = sys.argv[1]
with open(root + '/plant.json') as handle:
    files = json.load(handle)
os.unlink(root + '/plant.json')
os.mkdir(root + '/in')
os.mkdir(root + '/out')
for name, (data, marker) in sorted(files.items()):
    with open('%s/in/%s' % (root, name), 'w') as handle:
        handle.write(data)
    if marker is not None:
        with open('%s/in/%s.done' % (root, name), 'w') as handle:
            handle.write(marker)
"""
# sha256 of every regular file in the given directories except lock files: what landed where, by content.
CONTENTS = r"""
import hashlib, json, os, sys
found = {}
for directory in sys.argv[1:]:
    for name in os.listdir(directory):
        if not name.endswith('.lock'):
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                found[path] = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps(found))
"""


def file_data(name):
    """The content of the consumers' file ``name`` (unique, so it can be counted)."""
    return ("file %s\n" % name).encode() * 64


def plant_inbox(host, root, marked, unmarked):
    """``ROOT/in`` with the ``marked`` files (data first, marker last) and the ``unmarked`` ones
    (data only, still arriving); an empty ``ROOT/out``."""
    files = {name: [file_data(name).decode(), marker_bytes(file_data(name)).decode()] for name in marked}
    files.update({name: [file_data(name).decode(), None] for name in unmarked})
    host.write_bytes(f"{root}/plant.json", json.dumps(files).encode())
    host.run(f"python3 - {root}", stdin=PLANT_MANY)


class SftpObserver:
    """Reads dest and its marker over SFTP as an outside reader would, and judges every look."""

    def __init__(self, host, private_key, dest, versions):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(host.address, username=LOGIN_USER, key_filename=str(private_key),
                            look_for_keys=False, allow_agent=False, timeout=10)
        self.sftp = self.client.open_sftp()
        self.dest = dest
        self.versions = versions
        self.seen = Counter()
        self.violations = []

    def read(self, path):
        """The whole file, or None when it does not exist."""
        try:
            with self.sftp.open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()
        except FileNotFoundError:
            return None

    def look(self):
        """Read marker, data, marker again; judge the data always, the marker only when it held still.

        A publish may run between the reads. It removes the marker before it renames the new data
        into place and writes a marker with a higher generation after, so when both marker reads
        return the same bytes, no publish touched the data in between and the marker must describe
        the data read. When they differ, the data may belong to either marker, so nothing is judged.
        """
        before = self.read(self.dest + ".done")
        data = self.read(self.dest)
        after = self.read(self.dest + ".done")
        if data is not None:
            version = self.versions.get(sha256_bytes(data))
            self.seen[version or "partial or unknown"] += 1
            if version is None:
                self.violations.append("dest held %d bytes that are no complete version" % len(data))
        if before is None or before != after:
            self.seen["marker not judged"] += 1
            return
        marker = json.loads(before)
        self.seen["marker judged"] += 1
        if data is None or marker["sha256"] != sha256_bytes(data) or marker["size"] != len(data):
            self.violations.append("marker %s beside data of %s bytes" % (marker, None if data is None else len(data)))

    def close(self):
        self.sftp.close()
        self.client.close()


def test_observer_never_sees_partial_data_or_a_wrong_marker(fleet, tmp_path):
    """Invariant: while uploads of two alternating versions run back to back, an independent SFTP
    reader of dest only ever reads one complete version, and a marker it reads (unchanged across the
    read of the data) always describes exactly the data beside it."""
    host = fleet.hosts["h1"]
    versions, sources = {}, []
    for name, size in (("v1", 1024 * 1024), ("v2", 1536 * 1024)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        versions[sha256_bytes(path.read_bytes())] = name
        sources.append(str(path))
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "observer") as root:
        observer = SftpObserver(host, fleet.private_key, f"{root}/data.bin", versions)
        run = start_playbook(fleet, OBSERVED, tmp_path / "producer", env={**PIPELINED, **log.env()},
                             extra_vars={"root": root, "sources": sources * (PUBLISHES_PER_OBSERVED_RUN // 2)})
        try:
            while run.process.poll() is None:
                observer.look()
        finally:
            observer.close()
            finished = run.finish()
    assert finished.returncode == 0, finished.stdout + finished.stderr
    published = [r for r in log.results("Publish", items=True) if r["result"]["action"] == "transfer"]
    assert len(published) == PUBLISHES_PER_OBSERVED_RUN
    assert observer.violations == [], observer.violations[:5]
    print("observer saw:", dict(observer.seen))
    assert observer.seen["v1"] and observer.seen["v2"], "the observer never overlapped the publishes"
    assert observer.seen["marker judged"] >= 10, dict(observer.seen)


def producer_content(producer, publish):
    """What PRODUCER's ``content`` renders to for one producer's one publish."""
    return ("producer %s publish %s\n" % (producer, publish)).encode() * 4096


@pytest.mark.parametrize("producers", [2, 8])
def test_concurrent_producers_with_lock_keep_marker_and_generation(fleet, tmp_path, producers):
    """Invariant: while separate ansible-playbook producers publish one dest with lock=true, an SFTP
    reader only ever sees one producer's complete content and a marker that describes the data beside
    it; every publish gets its own generation 1..N, and the final marker's generation is the number of
    publishes, carried by the data of the last one."""
    host = fleet.hosts["h1"]
    versions = {sha256_bytes(producer_content(index, publish)): f"producer {index} publish {publish}"
                for index in range(producers) for publish in range(1, PUBLISHES_PER_PRODUCER + 1)}
    logs = [ResultLog(tmp_path / f"producer{index}.jsonl") for index in range(producers)]
    with scratch_dir([host], DATA_DIR, "producers") as root:
        observer = SftpObserver(host, fleet.private_key, f"{root}/shared.txt", versions)
        runs = [start_playbook(fleet, PRODUCER, tmp_path / f"producer{index}", env={**PIPELINED, **log.env()},
                               extra_vars={"root": root, "producer": index, "publishes": PUBLISHES_PER_PRODUCER})
                for index, log in enumerate(logs)]
        try:
            while any(run.process.poll() is None for run in runs):
                observer.look()
        finally:
            observer.close()
            finished = [run.finish() for run in runs]
        final = stable_look(host, f"{root}/shared.txt")
    for run in finished:
        assert run.returncode == 0, run.stdout + run.stderr
    print("observer saw:", dict(observer.seen))
    assert observer.violations == [], observer.violations[:5]
    assert observer.seen["marker judged"] >= 1, dict(observer.seen)
    publishes = [record["result"] for log in logs for record in log.results("Publish", items=True)]
    assert [result["action"] for result in publishes] == ["transfer"] * producers * PUBLISHES_PER_PRODUCER
    total = len(publishes)
    assert sorted(result["generation"] for result in publishes) == list(range(1, total + 1))
    last = next(result for result in publishes if result["generation"] == total)
    assert final["marker"]["generation"] == total
    assert final["marker"]["sha256"] == final["sha256"] == last["sha256"]
    assert final["temps"] == [] and final["strangers"] == [], final


def start_drains(host, root, runs):
    """Once every consumer waits for its start signal, start the drains DRAIN_STAGGER apart: the start-up
    times of ansible-playbook alone differ by seconds on a busy machine, and the drains would hardly overlap.
    A consumer that ended before it got there fails the test with its output."""
    def all_waiting_or_one_ended():
        ended = [run for run in runs if run.process.poll() is not None]
        return ended or len(processes_with_open(host, "python3", "anon_inode:inotify")) == CONSUMERS
    ended = wait_for(all_waiting_or_one_ended, PATIENCE, interval=0.05, what="every consumer to wait for its start signal")
    if ended is not True:
        early = ended[0].finish()
        raise AssertionError(f"a consumer ended (rc={early.returncode}) before the drains started:\n"
                             + early.stdout + early.stderr)
    for index in range(CONSUMERS):
        host.run(f"mkdir -p {root}/go && touch {root}/go/{index} && touch {root}/go/{index}.done")
        time.sleep(DRAIN_STAGGER)


def test_concurrent_consumers_move_every_file_exactly_once(fleet, tmp_path):
    """Invariant: eight separate ansible-playbook consumers over 200 marked files on one host, all with
    the same dest and per-file lock, land every file exactly once (counted by content): none lost, none
    duplicated, no task fails. Racing for a file one task each, the seven losers report changed=false,
    already moved; draining the inbox at once, each file is in exactly one consumer's moved list, and the
    files still arriving (no marker) are left in place and reported not ready by every drain."""
    host = fleet.hosts["h1"]
    marked = ["f%03d" % index for index in range(FILES)]
    unmarked = ["a%03d" % index for index in range(UNMARKED)]
    shared = marked[:SHARED_FILES]
    logs = [ResultLog(tmp_path / f"consumer{index}.jsonl") for index in range(CONSUMERS)]
    with scratch_dir([host], DATA_DIR, "consumers") as root:
        plant_inbox(host, root, marked, unmarked)
        runs = [start_playbook(fleet, CONSUMER, tmp_path / f"consumer{index}", env={**PIPELINED, **log.env()},
                               extra_vars={"root": root, "shared": shared, "consumer": index,
                                           "drain_rounds": DRAIN_ROUNDS})
                for index, log in enumerate(logs)]
        start_drains(host, root, runs)
        finished = [run.finish() for run in runs]
        contents = json.loads(host.run(f"python3 - {root}/in {root}/out", stdin=CONTENTS).stdout)
    expected = {f"{root}/out/{name}": sha256_bytes(file_data(name)) for name in marked}
    expected.update({f"{root}/in/{name}": sha256_bytes(file_data(name)) for name in unmarked})
    assert contents == expected
    one_by_one = [record for log in logs for record in log.results("Consume", items=True)]
    assert len(one_by_one) == SHARED_FILES * CONSUMERS and all(r["status"] == "ok" for r in one_by_one)
    winners = Counter(r["result"]["src"] for r in one_by_one if r["result"]["changed"])
    assert winners == Counter(f"{root}/in/{name}" for name in shared), winners
    losers = [r["result"]["msg"] for r in one_by_one if not r["result"]["changed"]]
    assert len(losers) == SHARED_FILES * (CONSUMERS - 1)
    assert all(msg.startswith("already moved") for msg in losers), losers[:3]
    drains = [record for log in logs for record in log.results("Drain the inbox", items=True)]
    assert [d["result"]["msg"] for d in drains if d["status"] != "ok"] == []
    assert len(drains) == CONSUMERS * DRAIN_ROUNDS
    print("drains (moved, already moved):",
          [(len(d["result"]["moved"]), len(d["result"]["already_moved"])) for d in drains])
    drained = Counter(entry["src"] for drain in drains for entry in drain["result"]["moved"])
    assert drained == Counter(f"{root}/in/{name}" for name in marked[SHARED_FILES:]), drained
    for drain in drains:
        result = drain["result"]
        assert [entry["src"] for entry in result["not_ready"]] == [f"{root}/in/{name}" for name in unmarked]
        assert (result["busy"], result["failed_by_producer"]) == ([], []), result
        assert all(entry["msg"].startswith("already moved") for entry in result["already_moved"]), result
    for run in finished:
        assert run.returncode == 0, run.stdout + run.stderr
