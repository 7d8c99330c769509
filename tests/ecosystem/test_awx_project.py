# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX project layout of docs/awx.md, run by ansible-runner as AWX runs a job: the wrapper
playbooks and extra vars are read from the page itself, the files to deliver sit in the
project's files/, and the job's working directory is the project (ansible-runner's default)."""

from __future__ import annotations

import re

import ansible_runner
import pytest
import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import tool_env

AWX_DOC = REPO_ROOT / "docs" / "awx.md"
HOSTS = ("e1", "e2")
ENV_KEYS = ("PATH", "VIRTUAL_ENV", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_PIPELINING")


def yaml_blocks():
    """The ```yaml blocks of docs/awx.md, as text."""
    return re.findall(r"```yaml\n(.*?)```", AWX_DOC.read_text(), flags=re.S)


def documented_wrappers():
    """{file name: text} of the project's wrapper playbooks as the page gives them: deliver.yml
    verbatim, promote.yml and handoff.yml "likewise"."""
    (deliver,) = [block for block in yaml_blocks() if block.startswith("# deliver.yml\n")]
    assert "import_playbook: lockstep.handoff.deliver" in deliver
    return {f"{name}.yml": deliver.replace("deliver", name).replace("Deliver", name.capitalize())
            for name in ("deliver", "promote", "handoff")}


def documented_handoff_vars():
    """The page's example extra vars for the Hand-off template."""
    (block,) = [block for block in yaml_blocks() if block.startswith("handoff_files:\n")]
    return yaml.safe_load(block)


def run_job(tmp_path, playbook, extravars, inventory):
    """One job: ansible-runner with the project as private_data_dir/project, like AWX."""
    env = tool_env(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True")
    runner = ansible_runner.run(private_data_dir=str(tmp_path), playbook=playbook, inventory=str(inventory),
                                envvars={key: env[key] for key in ENV_KEYS}, extravars=extravars, quiet=True)
    output = runner.stdout.read()
    assert (runner.status, runner.rc) == ("successful", 0), output
    return runner


@pytest.fixture()
def project(tmp_path):
    """private_data_dir/project holding the documented wrappers and files/."""
    project = tmp_path / "project"
    (project / "files" / "reports").mkdir(parents=True)
    for name, text in documented_wrappers().items():
        (project / name).write_text(text)
    (project / "files" / "nightly.csv").write_text("id,value\n1,42\n")
    (project / "files" / "reports" / "daily.txt").write_text("daily\n")
    return project


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of forkpty:DeprecationWarning")
def test_handoff_template_finds_src_in_the_project_files_dir(runner_fleet, project):
    workspace = "/srv/handoff/awx-project"
    extravars = documented_handoff_vars()
    (entry,) = extravars["handoff_files"]
    assert entry["src"] == "nightly.csv", "docs/awx.md's example changed; keep this test on it"
    entry["dest"] = f"{workspace}/import/nightly.csv"
    extravars["handoff_incoming_dir"] = f"{workspace}/inbox"
    # The page's notify command reloads a service these hosts do not have.
    del extravars["handoff_promote_notify_command"], extravars["handoff_promote_notify_become"]

    run_job(project.parent, "handoff.yml", extravars, runner_fleet.inventory)

    for host in HOSTS:
        assert runner_fleet.hosts[host].read_bytes(f"{workspace}/import/nightly.csv") == b"id,value\n1,42\n"


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of forkpty:DeprecationWarning")
def test_deliver_template_finds_a_directory_src_in_the_project(runner_fleet, project):
    workspace = "/srv/handoff/awx-project-dir"
    extravars = {"handoff_deliver_files": [{"src": "reports/", "dest": f"{workspace}/reports"}]}

    run_job(project.parent, "deliver.yml", extravars, runner_fleet.inventory)

    for host in HOSTS:
        assert runner_fleet.hosts[host].read_bytes(f"{workspace}/reports/daily.txt") == b"daily\n"
        assert runner_fleet.hosts[host].exists(f"{workspace}/reports/daily.txt.done")
