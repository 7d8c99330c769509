# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload with ``files`` on a real SSH host: 20 files to their own places in one module run.

At -vvv without pipelining ansible-core logs every module run as an ``SSH: EXEC ... python
.../AnsiballZ_<module>.py`` line; the test counts them. The first run publishes 20 small files
(ten with markers beside them, ten with markers in a state directory of their own) in exactly
one module run that carries them (inline), the second run changes nothing in one. Every file is
then judged by ``handoff.sh wait`` on the host, the shell consumer of protocol v1: each marker
must say complete and match. A list above the inline limit takes a probe and a publish.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._transfer_request import INLINE_UP_TO_BYTES
from tests.support.fleet_runs import ResultLog
from tests.support.host_handoff import scratch_dir

from .harness import DATA_DIR, run_playbook
from .variants import SSH_VARIANTS as VARIANTS, alias, make_alias_dirs, run_variants

HANDOFF_SH = Path(__file__).resolve().parents[2] / "roles" / "agent" / "files" / "handoff.sh"
MODULE_RUN = re.compile(r"SSH: EXEC .*?python[\d.]* \S*/AnsiballZ_(\w+)\.py")
PLAYBOOK = """
- name: Publish a list of files, each to its own place
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish the list
      lockstep.handoff.atomic_upload:
        files: "{{ files }}"
        mode: "0640"
        lock: true
"""


def module_runs(output):
    return [match.group(1) for match in MODULE_RUN.finditer(output)]


def test_twenty_files_to_their_own_places_in_one_module_run_with_protocol_v1_markers(fleet, tmp_path):
    """Invariant: a list of 20 small files costs one module run that carries them, changed or not, each file
    lands with its bytes and mode, and each marker is one handoff.sh accepts."""
    host = fleet.hosts["h1"]
    datas = {f"f{number:02d}.conf": f"setting_{number} = {number}\n".encode() * 40 for number in range(20)}
    for name, data in datas.items():
        (tmp_path / name).write_bytes(data)
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "lists") as root:
        host.run(f"mkdir -m 755 {root}/a {root}/b {root}/b/.handoff")
        host.run(f"cat > {root}/handoff.sh", stdin=HANDOFF_SH.read_text())
        files = []
        for number, name in enumerate(sorted(datas)):
            if number % 2:
                files.append(dict(src=str(tmp_path / name), dest=f"{root}/b/{name}",
                                  marker_path=f"{root}/b/.handoff/{name}.done"))
            else:
                files.append(dict(src=str(tmp_path / name), dest=f"{root}/a/{name}"))
        runs = []
        for attempt in ("first", "second"):
            run = run_playbook(fleet, PLAYBOOK, "-vvv", extra_vars={"files": files},
                               env={"ANSIBLE_PIPELINING": "False", **log.env()})
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
            runs.append(run)
        first, second = (record["result"] for record in log.results("Publish the list", "h1"))
        assert module_runs(runs[0].stdout) == ["atomic_upload"]
        assert module_runs(runs[1].stdout) == ["atomic_upload"]
        assert (first["changed"], len(first["files_changed"]), second["changed"]) == (True, 20, False)
        assert (first["transfer_path"], first["transfer"]["path"]) == ("inline", "inline")
        assert [item["dest"] for item in first["files"]] == [item["dest"] for item in files]
        for item in files:
            name = item["dest"].rsplit("/", 1)[1]
            assert host.read_bytes(item["dest"]) == datas[name]
            assert host.run(f"stat -c %a {item['dest']}").stdout.strip() == "640"
            marker_path = item.get("marker_path", item["dest"] + ".done")
            marker = json.loads(host.read_bytes(marker_path))
            assert (marker["state"], marker["sha256"]) == ("complete", hashlib.sha256(datas[name]).hexdigest())
            state_dir = ".handoff" if "marker_path" in item else ""
            judged = host.run(f"HANDOFF_STATE_DIR={state_dir} bash {root}/handoff.sh wait {item['dest']} 0", check=False)
            assert judged.returncode == 0, (item, judged.stdout, judged.stderr)
        unmarked = host.run(f"cp {root}/a/f00.conf {root}/a/copy.conf && bash {root}/handoff.sh wait {root}/a/copy.conf 0",
                            check=False)
        assert unmarked.returncode == 1, "handoff.sh must refuse a file without a marker, or it judged nothing"


def test_a_list_above_the_inline_limit_is_probed_then_only_its_changed_files_are_sent(fleet, tmp_path):
    """Invariant: files above the inline limit cost a probe and a publish, the bytes staged in the private remote
    temp directory; after one file changes, only that file is sent; unchanged, the probe alone runs."""
    host = fleet.hosts["h1"]
    size = INLINE_UP_TO_BYTES // 2
    datas = {f"big{number}.bin": bytes([number]) * size for number in range(3)}
    for name, data in datas.items():
        (tmp_path / name).write_bytes(data)
    log = ResultLog(tmp_path / "results.jsonl")
    with scratch_dir([host], DATA_DIR, "lists") as root:
        files = [dict(src=str(tmp_path / name), dest=f"{root}/{name}") for name in sorted(datas)]
        runs = []
        for attempt in ("first", "changed", "unchanged"):
            if attempt == "changed":
                (tmp_path / "big1.bin").write_bytes(b"C" * size)
            run = run_playbook(fleet, PLAYBOOK, "-vvv", extra_vars={"files": files},
                               env={"ANSIBLE_PIPELINING": "False", **log.env()})
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
            runs.append(run)
        first, changed, unchanged = (record["result"] for record in log.results("Publish the list", "h1"))
        assert [module_runs(run.stdout) for run in runs] == [["atomic_upload"] * 2, ["atomic_upload"] * 2,
                                                             ["atomic_upload"]]
        assert (first["transfer_path"], len(first["files_changed"])) == ("staged", 3)
        assert (changed["files_changed"], changed["transfer_path"]) == ([f"{root}/big1.bin"], "staged")
        assert size < changed["transfer"]["bytes_sent"] < size + 50 * 1024, "only the changed file travels"
        assert (unchanged["changed"], unchanged["transfer"]["bytes_sent"]) == (False, 0)
        assert host.read_bytes(f"{root}/big1.bin") == b"C" * size


VARIANT_PLAYBOOK = """
- name: Publish a list of files over every connection variant
  hosts: lists
  gather_facts: false
  vars:
    base: "{{ root }}/{{ inventory_hostname }}"
    listed:
      - {src: "{{ sources }}/one.conf", dest: "{{ base }}/one.conf", mode: "0600"}
      - {content: "two\\n", dest: "{{ base }}/sub/two.conf"}
  tasks:
    - name: Make the second directory
      ansible.builtin.file:
        path: "{{ base }}/sub"
        state: directory
        mode: "0755"
    - name: Publish the list (check mode)
      lockstep.handoff.atomic_upload: &listed
        files: "{{ listed }}"
        mode: "0640"
      check_mode: true
    - name: Publish the list
      lockstep.handoff.atomic_upload: *listed
    - name: Publish the list (second run)
      lockstep.handoff.atomic_upload: *listed
"""


@pytest.mark.parametrize("size, path", [(400, "inline"), (INLINE_UP_TO_BYTES + 64 * 1024, "staged")])
def test_a_list_over_ssh_with_and_without_pipelining_and_become(fleet, ansible_playbook, tmp_path, size, path):
    """Invariant: with pipelining on and off, with and without become, a list - small enough to travel inside its
    module run, or not - is predicted in check mode without a write, published with each file's own mode and owner
    (the user the module ran as) and marker, and a second run changes nothing."""
    (tmp_path / "one.conf").write_bytes(b"one\n" * (size // 4))
    log = ResultLog(tmp_path / "results.jsonl")
    hosts = [fleet.hosts["h1"]]
    problems = {}
    with scratch_dir(hosts, DATA_DIR, "lists") as root:
        make_alias_dirs(hosts, root, VARIANTS)
        run = run_variants(ansible_playbook, VARIANT_PLAYBOOK, fleet, tmp_path, "lists", ["h1"], VARIANTS,
                           extra_vars={"root": root, "sources": str(tmp_path)}, env=log.env())
        for variant, (_settings, owner) in VARIANTS.items():
            name = alias("h1", variant)
            check, real, again = (log.one(task, name)["result"] for task in (
                "Publish the list (check mode)", "Publish the list", "Publish the list (second run)"))
            found = host_state(hosts[0], f"{root}/{name}")
            expected = {"one.conf": f"{owner} 600", "one.conf.done": f"{owner} 600",
                        "sub/two.conf": f"{owner} 640", "sub/two.conf.done": f"{owner} 640"}
            outcome = (check.get("changed"), len(check.get("files_changed", [])), real.get("action"),
                       real.get("transfer_path"), again.get("changed"), found)
            if outcome != (True, 2, "transfer", path, False, expected):
                problems[name] = (outcome, real.get("msg"))
    assert problems == {}, f"{problems}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def host_state(host, directory):
    """``{relative path: "owner mode"}`` of every file below ``directory`` on ``host``."""
    listing = host.run(f"cd {directory} && find . -type f -printf '%P %u %m\\n'").stdout.split("\n")
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in listing if line}


PARENTS_PLAYBOOK = """
- name: Publish into directories that do not exist yet, over every connection variant
  hosts: lists
  gather_facts: false
  vars:
    base: "{{ root }}/{{ inventory_hostname }}"
  tasks:
    - name: Publish one file (check mode)
      lockstep.handoff.atomic_upload: &single
        content: "single\\n"
        dest: "{{ base }}/one/two/single.conf"
        create_parents: true
        directory_mode: "0750"
      check_mode: true
    - name: Publish one file
      lockstep.handoff.atomic_upload: *single
    - name: Publish a list (check mode)
      lockstep.handoff.atomic_upload: &listed
        files:
          - {src: "{{ sources }}/one.conf", dest: "{{ base }}/a/b/one.conf"}
          - {content: "two\\n", dest: "{{ base }}/c/two.conf"}
        state_dir: .handoff
        lock: true
        create_parents: true
        directory_mode: "0750"
      check_mode: true
    - name: Publish the list
      lockstep.handoff.atomic_upload: *listed
    - name: Publish the list (second run)
      lockstep.handoff.atomic_upload: *listed
"""


def test_create_parents_over_ssh_with_and_without_pipelining_and_become(fleet, ansible_playbook, tmp_path):
    """Invariant: over every variant, check mode lists the directories a real run makes and writes nothing; the
    real run makes them (owned by the user the module ran as, with directory_mode) and publishes there, a file's
    marker in the .handoff directory made beside it; a second run changes nothing."""
    (tmp_path / "one.conf").write_bytes(b"one\n" * 100)
    log = ResultLog(tmp_path / "results.jsonl")
    hosts = [fleet.hosts["h1"]]
    problems = {}
    with scratch_dir(hosts, DATA_DIR, "parents") as root:
        make_alias_dirs(hosts, root, VARIANTS)
        run = run_variants(ansible_playbook, PARENTS_PLAYBOOK, fleet, tmp_path, "lists", ["h1"], VARIANTS,
                           extra_vars={"root": root, "sources": str(tmp_path)}, env=log.env())
        for variant, (_settings, owner) in VARIANTS.items():
            name = alias("h1", variant)
            base = f"{root}/{name}"
            single_check, single, check, real, again = (log.one(task, name)["result"] for task in (
                "Publish one file (check mode)", "Publish one file", "Publish a list (check mode)",
                "Publish the list", "Publish the list (second run)"))
            directories = hosts[0].run(f"cd {base} && find . -mindepth 1 -type d -printf '%P %u %m\\n'").stdout.split("\n")
            outcome = (single_check.get("created_directories"), single.get("created_directories"),
                       check.get("changed"), check.get("created_directories"), real.get("files_changed"),
                       again.get("changed"), sorted(line for line in directories if line),
                       host_state(hosts[0], base).get("c/.handoff/two.conf.done", "").split(" ")[0])
            made_for_list = [f"{base}/a", f"{base}/a/b", f"{base}/a/b/.handoff", f"{base}/c", f"{base}/c/.handoff"]
            expected = ([f"{base}/one", f"{base}/one/two"], [f"{base}/one", f"{base}/one/two"],
                        True, made_for_list, [f"{base}/a/b/one.conf", f"{base}/c/two.conf"], False,
                        sorted(f"{path[len(base) + 1:]} {owner} 2750"
                               for path in made_for_list + [f"{base}/one", f"{base}/one/two"]),
                        owner)
            if outcome != expected:
                problems[name] = (outcome, expected, real.get("msg"))
    assert problems == {}, f"{problems}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
