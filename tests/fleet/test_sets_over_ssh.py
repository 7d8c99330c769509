# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sets of files (a directory src and a list src) published by atomic_upload on real SSH hosts.

The second test has three hosts publish their own version of one set into a directory they all
see, under one Redis lease: the set left behind is one host's, whole, and its manifest carries
the fencing token of the last publish.

One ansible-playbook run covers OpenSSH with pipelining on and off, each with and without become
to another unprivileged user: the inventory holds one alias of h1 and h2 per variant, each working
in its own directory. With become the archive travels through the remote temp directory, without
it straight into a temp file inside dest; the list, small, travels inside the one module run that
probes and publishes it (inline). Each set is published in check mode, for real, then a
second time (changed=false); the test then reads what landed on each host: every file with the
exact bytes, owned by the user the module ran as, and a manifest marker that lists them all.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import INLINE_UP_TO_BYTES
from tests.support.fleet_runs import ResultLog
from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR, run_playbook
from .variants import SSH_VARIANTS as VARIANTS, alias, make_alias_dirs, run_variants

HOSTS = ("h1", "h2")
# set -> its src on the controller, as the playbook gets it
SETS = ("tree", "listed")
PLAYBOOK = """
- name: Publish a directory and a list of files as sets
  hosts: sets
  gather_facts: false
  vars:
    base: "{{ root }}/{{ inventory_hostname }}"
  tasks:
    - name: Publish tree (check mode)
      lockstep.handoff.atomic_upload: &tree
        src: "{{ tree }}"
        dest: "{{ base }}/tree"
        mode: "0640"
      check_mode: true
    - name: Publish tree
      lockstep.handoff.atomic_upload: *tree
    - name: Publish tree (second run)
      lockstep.handoff.atomic_upload: *tree
    - name: Publish listed (check mode)
      lockstep.handoff.atomic_upload: &listed
        src: "{{ listed }}"
        dest: "{{ base }}/listed"
        mode: "0640"
      check_mode: true
    - name: Publish listed
      lockstep.handoff.atomic_upload: *listed
    - name: Publish listed (second run)
      lockstep.handoff.atomic_upload: *listed
"""


def make_sources(tmp_path):
    """A directory tree and a list of files on the controller; returns ``({set: src}, {set: {path: bytes}})``."""
    tree = {"a.csv": os.urandom(4096), "b.csv": b"", "sub/c.csv": os.urandom(INLINE_UP_TO_BYTES + 70000)}
    for path, data in tree.items():
        (tmp_path / "tree" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / path).write_bytes(data)
    listed = {"x.conf": tmp_path / "one" / "x.conf", "y.conf": tmp_path / "two" / "deeper" / "y.conf"}
    for path in listed.values():
        path.parent.mkdir(parents=True)
        path.write_bytes(os.urandom(1000))
    sources = {"tree": str(tmp_path / "tree"), "listed": [str(path) for path in listed.values()]}
    contents = {"tree": tree, "listed": {name: path.read_bytes() for name, path in listed.items()}}
    return sources, contents


def set_sha256(files):
    """The sha256 of a set by the protocol: of its ``sha256sum`` listing, sorted by path."""
    listing = "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def check_results(log, name, label, files):
    """What went wrong in the three runs of set ``label`` for alias ``name`` (empty when nothing)."""
    tasks = (f"Publish {label} (check mode)", f"Publish {label}", f"Publish {label} (second run)")
    records = [log.one(task, name) for task in tasks]
    failed = [record["result"].get("msg") for record in records if record["status"] != "ok"]
    if failed:
        return [f"{label}: tasks failed: {failed}"]
    check, real, again = (record["result"] for record in records)
    expected = [
        (check, "changed", True), (check, "files_changed", sorted(files)),
        (real, "action", "transfer"), (real, "files_changed", sorted(files)), (real, "generation", 1),
        (real, "sha256", set_sha256(files)), (real, "files", len(files)), (real, "size", sum(map(len, files.values()))),
        (again, "changed", False), (again, "action", "none"), (again, "files_changed", []),
    ]
    problems = [f"{label}: {key}={result.get(key)!r}, expected {value!r}"
                for result, key, value in expected if result.get(key) != value]
    # Above the inline limit, the archive is a transfer of its own; below it, inside the one module run.
    paths = ("direct", "staged") if sum(map(len, files.values())) > INLINE_UP_TO_BYTES else ("inline",)
    if real.get("transfer_path") not in paths:
        problems.append(f"{label}: transfer_path={real.get('transfer_path')!r}, expected one of {paths}")
    return problems


def check_landed(host, directory, files, owner):
    """What is wrong in the set ``directory`` on ``host`` (empty when nothing): the exact files, owned by
    ``owner`` with mode 0640, nothing else below it, and a manifest by the same user listing every file."""
    problems = []
    found = host.run(f"cd {directory} && find . -type f -printf '%P %u %m\\n'").stdout.split("\n")
    expected = [f"{path} {owner} 640" for path in sorted(files)]
    if sorted(line for line in found if line) != expected:
        problems.append(f"files below {directory}: {found}, expected {expected}")
    for path, data in files.items():
        if host.read_bytes(f"{directory}/{path}") != data:
            problems.append(f"{path}: other bytes than the source")
    manifest = json.loads(host.read_bytes(f"{directory}.done"))
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    if listed != {path: hashlib.sha256(data).hexdigest() for path, data in files.items()} \
            or (manifest["state"], manifest["sha256"], manifest["generation"]) != ("complete", set_sha256(files), 1):
        problems.append(f"manifest {manifest}")
    manifest_owner = host.run(f"stat -c %U {directory}.done").stdout.strip()
    if manifest_owner != owner:
        problems.append(f"manifest owned by {manifest_owner}, expected {owner}")
    return problems


def test_sets_over_ssh_with_and_without_become(fleet, ansible_playbook, tmp_path):
    """Invariant: over OpenSSH with pipelining on and off, each with and without become to another
    unprivileged user, a directory src and a list src each land as one set on every host - check mode
    writes nothing, the real run publishes every file (owned by the user the module ran as, mode 0640)
    and one manifest marker last that matches them, and a second run changes nothing."""
    sources, contents = make_sources(tmp_path)
    log = ResultLog(tmp_path / "results.jsonl")
    hosts = [fleet.hosts[name] for name in HOSTS]
    problems = {}
    with scratch_dir(hosts, DATA_DIR, "sets") as root:
        make_alias_dirs(hosts, root, VARIANTS)
        run = run_variants(ansible_playbook, PLAYBOOK, fleet, tmp_path, "sets", HOSTS, VARIANTS,
                           extra_vars={"root": root, **sources}, env=log.env())
        for host in HOSTS:
            for variant, (_settings, owner) in VARIANTS.items():
                name = alias(host, variant)
                found = []
                for label in SETS:
                    found += check_results(log, name, label, contents[label]) or \
                        check_landed(fleet.hosts[host], f"{root}/{name}/{label}", contents[label], owner)
                if found:
                    problems[name] = found
    assert problems == {}, f"{problems}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


FENCED = """
- name: Every host publishes its own version of one shared set under one Redis lease
  hosts: h1:h2:h3
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Publish the shared set
      lockstep.handoff.atomic_upload:
        src: "{{ sources }}/{{ inventory_hostname }}/"
        dest: "{{ shared }}/set"
        lock: true
        lock_type: redis
        lock_timeout: 120
"""
REDIS_PREFIX = "lockstep:handoff:"


def test_hosts_publishing_one_set_under_a_redis_lease_leave_one_whole_set(fleet, redis_server, shared_dir,
                                                                          tmp_path):
    """Invariant: three hosts publishing different versions of one set into a shared directory under one
    Redis lease leave exactly one host's version, every file of it, and a manifest that describes it and
    records the fencing token last published (each publish got its own token)."""
    versions = {}
    for host in ("h1", "h2", "h3"):
        versions[host] = {path: f"{host} {path}\n".encode() * 100 for path in ("a.csv", "b.csv", "sub/c.csv")}
        for path, data in versions[host].items():
            (tmp_path / host / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / host / path).write_bytes(data)
    log = ResultLog(tmp_path / "results.jsonl")
    run = run_playbook(fleet, FENCED, extra_vars={"redis_env": redis_server.env(), "sources": str(tmp_path),
                                                  "shared": shared_dir}, env=log.env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    tokens = {host: log.one("Publish the shared set", host)["result"]["fencing_token"] for host in versions}
    assert len(set(tokens.values())) == 3, tokens
    manifest = json.loads(Path(shared_dir, "set.done").read_bytes())
    on_disk = {path: Path(shared_dir, "set", path).read_bytes() for path in versions["h1"]}
    last = max(tokens, key=tokens.get)
    assert on_disk == versions[last], f"the set mixes versions; the last publisher was {last}: {on_disk}"
    assert manifest["fencing_token"] == tokens[last] and manifest["sha256"] == set_sha256(on_disk), manifest
    assert redis_server.command("GET", REDIS_PREFIX + "published:" + shared_dir + "/set.lock") == str(tokens[last])
    assert redis_server.command("KEYS", REDIS_PREFIX + "lock:*") == [], "every lease must be released"
