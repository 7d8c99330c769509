# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The handoff playbook run by ansible-runner, as AWX runs it, judged by its job events."""

from __future__ import annotations

import datetime

import ansible_runner
import pytest

from .conftest import tool_env

HOSTS = ("e1", "e2")
ENV_KEYS = ("PATH", "VIRTUAL_ENV", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_PIPELINING")


def events_of(events, event_type, task_action):
    """{host: event} of the ``event_type`` events of the tasks that run ``task_action``."""
    return {e["event_data"]["host"]: e for e in events
            if e["event"] == event_type and e["event_data"].get("task_action") == task_action}


def busy_intervals(events, task_action):
    """(start, end) of the task on each host, in start order. The task runs once per host (no loop), and its
    end event is emitted by the controller after the next host may have started; so the end is the start plus
    the seconds the action itself measured (``transfer.elapsed``), all of which fall inside the worker's run."""
    starts = events_of(events, "runner_on_start", task_action)
    elapsed = {host: event["event_data"]["res"]["transfer"]["elapsed"]
               for host, event in events_of(events, "runner_on_ok", task_action).items()}
    assert set(starts) == set(elapsed) == set(HOSTS)
    intervals = []
    for host in HOSTS:
        start = datetime.datetime.fromisoformat(starts[host]["created"])
        intervals.append((start, start + datetime.timedelta(seconds=elapsed[host])))
    return sorted(intervals)


def summaries(events, role):
    """{host: msg} of the summary debug task of ``role`` (deliver or promote)."""
    return {e["event_data"]["host"]: e["event_data"]["res"]["msg"] for e in events
            if e["event"] == "runner_on_ok" and e["event_data"].get("task") == f"{role.capitalize()} | Summary"}


# ansible-runner starts ansible-playbook on a pty; Python 3.12 warns about forking a pty in a
# multi-threaded process, which every pytest-xdist worker is.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of forkpty:DeprecationWarning")
def test_handoff_playbook_through_ansible_runner(runner_fleet, tmp_path):
    workspace = "/srv/handoff/runner"
    report = tmp_path / "report.csv"
    report.write_text("id,value\n1,42\n")
    env = tool_env(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True")
    (tmp_path / "runner").mkdir()
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        playbook="lockstep.handoff.handoff",
        inventory=str(runner_fleet.inventory),
        envvars={key: env[key] for key in ENV_KEYS},
        extravars={
            "handoff_files": [
                {"src": str(report), "dest": f"{workspace}/app/report.csv"},
                {"content": "key=value\n", "dest": f"{workspace}/app/settings.ini"},
            ],
            "handoff_incoming_dir": f"{workspace}/inbox",
            "handoff_deliver_throttle": 1,
        },
        quiet=True,
    )
    events = list(runner.events)
    output = runner.stdout.read()
    assert (runner.status, runner.rc) == ("successful", 0), output

    stats = runner.stats
    assert stats["failures"] == {} and stats["dark"] == {}, stats
    assert set(stats["ok"]) == set(HOSTS), stats
    assert all(stats["changed"][host] >= 2 for host in HOSTS), stats  # delivered, then promoted

    for module in ("lockstep.handoff.atomic_upload", "lockstep.handoff.locked_move"):
        assert set(events_of(events, "runner_on_ok", module)) == set(HOSTS), f"{module} did not run on every host"
    # promote waits for the markers and moves the files in its one locked_move run per host.
    assert not events_of(events, "runner_on_start", "lockstep.handoff.wait_for_marker")
    moved = events_of(events, "runner_on_ok", "lockstep.handoff.locked_move")
    for host in HOSTS:
        results = moved[host]["event_data"]["res"]["results"]
        assert [r["dest"] for r in results] == [f"{workspace}/app/report.csv", f"{workspace}/app/settings.ini"]
        assert all(r["changed"] for r in results)
        assert runner_fleet.hosts[host].read_bytes(f"{workspace}/app/settings.ini") == b"key=value\n"

    assert {host: (msg["files"], msg["transferred"]) for host, msg in summaries(events, "deliver").items()} == \
        dict.fromkeys(HOSTS, (2, 2))
    assert {host: (msg["moved"], msg["in_place"]) for host, msg in summaries(events, "promote").items()} == \
        dict.fromkeys(HOSTS, (2, 0))

    # handoff_deliver_throttle=1: one host at a time publishes, the next starts after it ends.
    first, second = busy_intervals(events, "lockstep.handoff.atomic_upload")
    assert second[0] >= first[1], "throttle=1 let two hosts publish at once"
