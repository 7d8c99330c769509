# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Boolean role variables given on the command line (``-e name=false``, a string) mean what they say.

ansible-core 2.19 refuses a string as a condition, and in Jinja ``not 'false'`` is false: every boolean the
roles test in a condition or negate goes through ``| bool``, as the module options they feed convert by themselves.
"""

from __future__ import annotations

from tests.support.fleet_runs import ResultLog

from .conftest import AGENT_PLAY

HOSTS = ("r1", "r2")
MOVE_TASK = "lockstep.handoff.promote : Promote | Wait for the markers and move the files, or roll them back"


def test_string_booleans_from_the_command_line_switch_the_handoff_roles(role_fleet, play, workspace, tmp_path):
    log = ResultLog(tmp_path / "results.jsonl")
    files = [{"content": "x = 1\n", "dest": f"{workspace}/app/x.conf"}]
    run = play("lockstep.handoff.handoff", "-e", "handoff_deliver_summary=false",
               "-e", "handoff_promote_summary=false", "-e", "handoff_promote_rollback=false",
               "-e", "handoff_deliver_marker=true", "-e", "handoff_deliver_lock=false",
               extra_vars={"handoff_files": files, "handoff_incoming_dir": f"{workspace}/incoming"}, env=log.env())
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr
    for host in HOSTS:
        moved = log.one(MOVE_TASK, host)
        assert [item["status"] for item in moved["result"]["results"]] == ["moved"], moved
        for role in ("deliver", "promote"):
            summary = log.one(f"lockstep.handoff.{role} : {role.title()} | Summary", host)
            assert summary["status"] == "skipped", summary
        assert role_fleet.hosts[host].read_bytes(f"{workspace}/app/x.conf") == b"x = 1\n"
        assert not role_fleet.hosts[host].exists(f"{workspace}/incoming/x.conf.lock"), "lock=false took a lock"


def test_a_string_false_rollback_from_the_command_line_still_waits_for_the_markers(role_fleet, play, workspace):
    """rollback=false is a move that waits (up to the timeout) for a marker nobody has written, not a look."""
    run = play("lockstep.handoff.promote", "-e", "handoff_promote_rollback=false", "-e", "handoff_promote_timeout=2",
               extra_vars={"handoff_promote_files": [{"src": f"{workspace}/incoming/late.conf",
                                                      "dest": f"{workspace}/app/late.conf"}]})
    assert run.returncode != 0, run.stdout
    assert f"timed out after 2.0s waiting for the marker {workspace}/incoming/late.conf.done" in run.stdout, run.stdout


def test_a_string_false_from_the_command_line_leaves_the_agents_cron_job_out(role_fleet, play, workspace, tmp_path):
    log = ResultLog(tmp_path / "results.jsonl")
    run = play(AGENT_PLAY, "-e", "handoff_agent_cron=false", "-e", "handoff_agent_create_dirs=true",
               extra_vars={"handoff_agent_lib_dir": f"{workspace}/lib", "handoff_agent_inbox": f"{workspace}/inbox",
                           "handoff_agent_ready_dir": f"{workspace}/ready"}, env=log.env())
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr
    for host in HOSTS:
        for task in ("Agent | Create the inbox and ready directories", "Agent | Promote the inbox from cron"):
            assert log.one(f"lockstep.handoff.agent : {task}", host)["status"] == "skipped", task
        assert role_fleet.hosts[host].exists(f"{workspace}/lib/handoff.sh")
        assert not role_fleet.hosts[host].exists(f"{workspace}/inbox")
