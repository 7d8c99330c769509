# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet scale: the demo's hand-off (upload → wait → move) on more and more hosts.

Ours is ``playbooks/demo.yml`` over ssh: atomic_upload of a 1000-line report,
then wait_for_marker and locked_move. The peer does the same hand-off with
builtins - copy, wait_for, ``command: mv`` - with the same number of module
runs per host. ``forks`` equals the host count, so every host is worked on at
once and the controller holds one worker per host; its memory is the peak of
the summed RSS of ansible-playbook and all its children (sampled every 50 ms),
next to ``ru_maxrss`` (the largest single process).
"""

from __future__ import annotations

from bench.context import Context
from bench.model import CaseResult, Row, Series
from bench.playbook import CHANGED, Playbook
from tests.fleet.harness import DATA_DIR

KEY = "fleet_scale"
DIRECTORY = f"{DATA_DIR}/scale"
TOOLS = {"ours": "lockstep.handoff hand-off", "peer": "copy → wait_for → mv"}

PREPARE = """\
    - name: Bench | Make inbox and ready directories
      ansible.builtin.file:
        path: "{{ dir }}/{{ item }}"
        state: directory
        mode: "0755"
      loop: [inbox, ready]
"""

REPORT = """\
        content: |
          report for {{ inventory_hostname }}
          {% for n in range(1, 1001) %}line {{ n }}
          {% endfor %}
        dest: "{{ dir }}/inbox/report.txt"
        mode: "0644"
"""

OURS = f"""\
- name: Bench | Producer publishes a report atomically, marker last
  hosts: "{{{{ targets }}}}"
  gather_facts: false
  tasks:
{PREPARE}
    - name: Bench | Publish the report
      lockstep.handoff.atomic_upload:
{REPORT}
- name: Bench | Consumer waits for the marker, then moves the file exactly once
  hosts: "{{{{ targets }}}}"
  gather_facts: false
  tasks:
    - name: Bench | Wait for the producer's marker
      lockstep.handoff.wait_for_marker:
        path: "{{{{ dir }}}}/inbox/report.txt"
        timeout: 120
    - name: Bench | Move it into place under the lock
      lockstep.handoff.locked_move:
        src: "{{{{ dir }}}}/inbox/report.txt"
        dest: "{{{{ dir }}}}/ready/report.txt"
        lock_timeout: 60
"""

PEER = f"""\
- name: Bench | Producer copies a report
  hosts: "{{{{ targets }}}}"
  gather_facts: false
  tasks:
{PREPARE}
    - name: Bench | Copy the report
      ansible.builtin.copy:
{REPORT}
- name: Bench | Consumer waits for the file, then moves it
  hosts: "{{{{ targets }}}}"
  gather_facts: false
  tasks:
    - name: Bench | Wait for the file
      ansible.builtin.wait_for:
        path: "{{{{ dir }}}}/inbox/report.txt"
        timeout: 120
    - name: Bench | Move it into place
      ansible.builtin.command:
        argv: [mv, "{{{{ dir }}}}/inbox/report.txt", "{{{{ dir }}}}/ready/report.txt"]
      changed_when: true
"""


def _table(medians: dict) -> str:
    """Wall time and controller memory per host count, as a markdown table."""
    lines = ["| hosts | ours wall | peer wall | ours ctl. memory (sum / largest) "
             "| peer ctl. memory (sum / largest) | ours wall per host |",
             "|---|---|---|---|---|---|"]
    for hosts, each in medians.items():
        lines.append(
            f"| {hosts} | {each['ours']['wall']:.2f} s | {each['peer']['wall']:.2f} s "
            f"| {each['ours']['tree_mib']:.0f} / {each['ours']['max_mib']:.0f} MiB "
            f"| {each['peer']['tree_mib']:.0f} / {each['peer']['max_mib']:.0f} MiB "
            f"| {each['ours']['wall'] / hosts * 1000:.0f} ms |")
    return "\n".join(lines)


def run(ctx: Context) -> CaseResult:
    """Time both playbooks at each host count; keep wall time and controller memory."""
    plays = {"ours": Playbook(ctx, "scale-ours", OURS), "peer": Playbook(ctx, "scale-peer", PEER)}
    rows, medians, samples = [], {}, {}
    for hosts in ctx.profile.scale_hosts:
        ctx.log(f"fleet scale: {hosts} hosts")
        for index in range(1, hosts + 1):
            ctx.reset_dir(ctx.host(index), DIRECTORY)
        series = {tool: {metric: Series(label, unit) for metric, unit in
                         (("wall", "s"), ("tree_mib", "MiB"), ("max_mib", "MiB"))}
                  for tool, label in TOOLS.items()}
        for turn in range(ctx.profile.runs):
            for tool in (("ours", "peer") if turn % 2 == 0 else ("peer", "ours")):
                timing = plays[tool].run({"dir": DIRECTORY, "targets": ctx.host_pattern(hosts)},
                                         env={"ANSIBLE_FORKS": str(hosts)}, expect=CHANGED, memory=True)
                series[tool]["wall"].samples.append(timing.wall)
                series[tool]["tree_mib"].samples.append(timing.tree_peak_kib / 1024)
                series[tool]["max_mib"].samples.append(timing.max_rss_kib / 1024)
        rows.append(Row(f"hand-off on {hosts} hosts (wall)", series["ours"]["wall"], series["peer"]["wall"]))
        medians[hosts] = {tool: {metric: each.value for metric, each in metrics.items()}
                          for tool, metrics in series.items()}
        samples[hosts] = {tool: {metric: each.samples for metric, each in metrics.items()}
                          for tool, metrics in series.items()}
        for index in range(1, hosts + 1):
            ctx.reset_dir(ctx.host(index), DIRECTORY)
    notes = [_table(medians),
             "Both playbooks make 6 module runs per host (file ×2, then upload = probe + publish or "
             "copy = stat + copy, wait, move). forks = host count. Controller memory: the peak of the summed "
             "RSS of ansible-playbook, its forked workers and their ssh clients / the largest single process."]
    return CaseResult(KEY, f"Fleet scale: hand-off on {', '.join(map(str, ctx.profile.scale_hosts))} hosts",
                      rows, notes, {"hosts": list(medians), "medians": medians, "samples": samples})
