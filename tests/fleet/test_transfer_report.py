# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""atomic_upload's transfer report over ssh: the result's ``transfer`` and ``msg``, and the line ``-v`` shows.

A 16 MiB file into a private directory goes direct and (transfer_compression=auto) without ssh compression;
a 64 KiB one into a group-writable directory is staged and keeps the connection's ``-C``; the same 16 MiB
again sends nothing. Each case is read back from the registered result, and the -v line from the output.
"""

from __future__ import annotations

import json
import re

import pytest

MIB = 1024 * 1024
PLAYBOOK = """
- name: Publish and report
  hosts: h1
  gather_facts: false
  tasks:
    - name: Publish a large file into a private directory
      lockstep.handoff.atomic_upload:
        src: "{{ sources }}/large.bin"
        dest: "{{ root }}/large.bin"
      register: large
    - name: Publish a small file into the group-writable directory
      lockstep.handoff.atomic_upload:
        src: "{{ sources }}/small.bin"
        dest: "{{ root }}/shared/small.bin"
      register: small
    - name: Publish the large file again
      lockstep.handoff.atomic_upload:
        src: "{{ sources }}/large.bin"
        dest: "{{ root }}/large.bin"
      register: again
    - name: Show the results
      ansible.builtin.debug:
        msg: "results={{ [large, small, again] | to_json }}"
"""
RESULTS = re.compile(r'"results=(\[.*\])"$', re.M)
SENT = re.compile(r"^sent (\S+ \S+) in (\d+\.\d) s \((\S+) MiB/s\), (direct|staged), ssh compression (on|off); "
                  r"(\d+\.\d) s in all$")


@pytest.mark.fleet
def test_results_say_what_was_sent_how_fast_which_way_and_whether_compressed(fleet, ansible_playbook, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "large.bin").write_bytes(bytes(range(256)) * (16 * MIB // 256))
    (sources / "small.bin").write_bytes(b"s" * 64 * 1024)
    host = fleet.hosts["h1"]
    # /srv/handoff is group-writable on the fleet: a direct transfer needs a private path, the login user's home.
    root = host.run("mktemp -d ~/report-XXXXXXXX").stdout.strip()
    try:
        host.run(f"chmod 0755 {root} && mkdir -m 2775 {root}/shared")
        run = ansible_playbook(PLAYBOOK, "-v", extra_vars={"sources": str(sources), "root": root})
    finally:
        host.run(f"rm -rf {root}", check=False)
    assert run.returncode == 0, run.stdout[-6000:]
    large, small, again = json.loads(json.loads('"%s"' % RESULTS.search(run.stdout).group(1)))

    transfer = large["transfer"]
    assert "direct_transfer_refused" not in large, large["direct_transfer_refused"]
    assert (transfer["bytes_sent"], transfer["path"], transfer["ssh_compression"]) == (16 * MIB, "direct", False)
    assert set(transfer["phases"]) == {"hash", "probe", "send", "publish"}
    assert 0 < transfer["phases"]["send"] < transfer["elapsed"]
    # The phases are rounded to milliseconds, the throughput comes from the unrounded send time.
    send = transfer["phases"]["send"]
    assert round(16 / (send + 0.0005), 1) <= transfer["throughput_mib_s"] <= round(16 / max(send - 0.0005, 0.0001), 1)
    sent = SENT.match(large["msg"])
    assert sent, large["msg"]
    assert sent.group(1, 4, 5) == ("16.0 MiB", "direct", "off")
    assert f"atomic_upload: {large['msg']}" in run.stdout, "-v shows the line as the task runs"

    assert (small["transfer"]["bytes_sent"], small["transfer"]["path"]) == (64 * 1024, "staged")
    assert small["transfer"]["ssh_compression"] is True
    assert SENT.match(small["msg"]).group(1, 4, 5) == ("64.0 KiB", "staged", "on")

    assert again["changed"] is False
    assert again["transfer"]["bytes_sent"] == 0 and again["transfer"]["throughput_mib_s"] is None
    assert again["msg"].startswith("nothing sent: dest already holds the data; ")
    assert "send" not in again["transfer"]["phases"]
