# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX job slicing: one job template split into N jobs that run at once, each over its own slice of
the inventory (AWX sorts the hosts and gives slice k the hosts [k::N]), run here by ansible-runner.

Every host publishes its own files into one inbox that all hosts share, then drains that inbox under
one Redis lease. Whichever slice a file's producer and its consumer fall into, each file is moved
exactly once, and a slice never needs another: each job sees only its own hosts and succeeds alone."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile

import ansible_runner
import pytest

from tests.fleet.harness import Fleet, HostSpec

from .conftest import tool_env

HOSTS = ("s1", "s2", "s3", "s4", "s5")
SLICES = 3
FILES_PER_HOST = 3
ENV_KEYS = ("PATH", "VIRTUAL_ENV", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_PIPELINING")

# The job template's playbook: nothing in it refers to another host, a group or run_once.
PLAYBOOK = """
- name: Produce into the shared inbox
  hosts: all
  gather_facts: false
  tasks:
    - name: Publish this host's files, marker last
      lockstep.handoff.atomic_upload:
        content: "{{ inventory_hostname }} file {{ item }}\\n"
        dest: "{{ inbox }}/{{ inventory_hostname }}-{{ item }}.csv"
        mode: "0644"
      loop: "{{ range(1, files_per_host + 1) | list }}"

- name: Consume the shared inbox under one Redis lease
  hosts: all
  gather_facts: false
  environment: "{{ redis_env }}"
  tasks:
    - name: Drain every complete file, each exactly once
      lockstep.handoff.locked_move:
        src: "{{ inbox }}"
        dest: "{{ outbox }}"
        lock_type: redis
        lock_path: awx/shared-inbox
        lock_timeout: 120
"""


def awx_slices(hosts, count):
    """The hosts of each slice, as AWX slices an inventory: sorted, then every count-th from k."""
    ordered = sorted(hosts)
    return [ordered[k::count] for k in range(count)]


def slice_inventory(fleet, hosts, path):
    """The fleet's inventory with only ``hosts`` in it: what a slice job of AWX is given."""
    others = set(fleet.hosts) - set(hosts)
    lines = [line for line in fleet.inventory.read_text().splitlines() if line.split(" ", 1)[0] not in others]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def slicing_fleet(fleet_machine):
    with Fleet.start(tuple(HostSpec(name) for name in HOSTS)) as started:
        yield started


@pytest.fixture
def exchange():
    """The inbox and the outbox every host shares (a directory of the machine, not of one host)."""
    root = tempfile.mkdtemp(prefix="slicing-")
    os.chmod(root, 0o755)
    for name in ("inbox", "outbox"):
        os.mkdir(os.path.join(root, name))
        os.chmod(os.path.join(root, name), 0o777)
    yield os.path.join(root, "inbox"), os.path.join(root, "outbox")
    shutil.rmtree(root, ignore_errors=True)


def start_jobs(tmp_path, fleet, slices, extravars):
    """One ansible-runner job per slice, all started at once (AWX starts a sliced job's jobs together);
    returns the runners once every job has ended."""
    env = tool_env(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True")
    runners = []
    threads = []
    for number, hosts in enumerate(slices):
        job_dir = tmp_path / f"job-{number}"
        (job_dir / "project").mkdir(parents=True)
        (job_dir / "project" / "handoff.yml").write_text(PLAYBOOK)
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(job_dir), playbook="handoff.yml",
            inventory=str(slice_inventory(fleet, hosts, tmp_path / f"slice-{number}.ini")),
            envvars={key: env[key] for key in ENV_KEYS}, extravars=extravars, quiet=True)
        threads.append(thread)
        runners.append(runner)
    for thread in threads:
        thread.join(timeout=600)
    return runners


def job_hosts(runner):
    """The hosts a job's events name."""
    return {event["event_data"]["host"] for event in runner.events if event.get("event_data", {}).get("host")}


def drained(runner):
    """{host: [file names it moved]} of one job."""
    return {event["event_data"]["host"]: [os.path.basename(m["src"]) for m in event["event_data"]["res"]["moved"]]
            for event in runner.events
            if event["event"] == "runner_on_ok" and event["event_data"]["task_action"] == "lockstep.handoff.locked_move"}


def span(runner):
    """(first, last) event time of a job."""
    times = sorted(datetime.datetime.fromisoformat(event["created"]) for event in runner.events if "created" in event)
    return times[0], times[-1]


def expected_files(hosts):
    return {f"{host}-{n}.csv": f"{host} file {n}\n".encode() for host in hosts for n in range(1, FILES_PER_HOST + 1)}


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_sliced_jobs_share_one_inbox_and_lease_and_move_each_file_exactly_once(slicing_fleet, redis_server,
                                                                               exchange, tmp_path):
    inbox, outbox = exchange
    slices = awx_slices(slicing_fleet.hosts, SLICES)
    assert slices == [["s1", "s4"], ["s2", "s5"], ["s3"]]
    extravars = {"inbox": inbox, "outbox": outbox, "files_per_host": FILES_PER_HOST,
                 "redis_env": redis_server.env()}

    runners = start_jobs(tmp_path, slicing_fleet, slices, extravars)

    for hosts, runner in zip(slices, runners):
        assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()
        assert job_hosts(runner) == set(hosts), "a slice job reached beyond its own hosts"
    starts, ends = zip(*(span(runner) for runner in runners))
    assert max(starts) < min(ends), "the slice jobs did not run at the same time"

    moves = [name for runner in runners for names in drained(runner).values() for name in names]
    want = expected_files(HOSTS)
    assert sorted(moves) == sorted(want), "a file was moved twice or never"
    assert {name: open(os.path.join(outbox, name), "rb").read() for name in os.listdir(outbox)} == want
    assert os.listdir(inbox) == [], "the inbox kept data or markers"
    # The lease was taken once per consuming host, each time with a higher fencing token.
    assert redis_server.command("GET", "lockstep:handoff:fence:awx/shared-inbox") == str(len(HOSTS))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_one_slice_alone_completes_its_hand_off(slicing_fleet, redis_server, exchange, tmp_path):
    """A slice relies on no other: run alone, it delivers and consumes everything its hosts produced."""
    inbox, outbox = exchange
    first = awx_slices(slicing_fleet.hosts, SLICES)[0]
    extravars = {"inbox": inbox, "outbox": outbox, "files_per_host": FILES_PER_HOST,
                 "redis_env": redis_server.env()}

    (runner,) = start_jobs(tmp_path, slicing_fleet, [first], extravars)

    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()
    assert {name: open(os.path.join(outbox, name), "rb").read() for name in os.listdir(outbox)} == \
        expected_files(first)
    assert os.listdir(inbox) == []
