"""changelogs/changelog.yaml is generated from the fragments, as a release would do it."""

from __future__ import annotations

import shutil

import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import run_tool

FRAGMENTS = REPO_ROOT / "changelogs" / "fragments"


def test_a_release_generates_changelog_yaml_and_rst_holding_every_fragment(tmp_path):
    """A release on a copy (the checkout keeps its fragments unreleased): every fragment lands
    in changelog.yaml under the galaxy.yml version, and CHANGELOG.rst is written from it."""
    shutil.copytree(REPO_ROOT / "changelogs", tmp_path / "changelogs")
    shutil.copy(REPO_ROOT / "galaxy.yml", tmp_path / "galaxy.yml")
    version = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    done = run_tool("antsibull-changelog", "release", "--version", version, "--date", "2026-11-23", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    release = yaml.safe_load((tmp_path / "changelogs" / "changelog.yaml").read_text())["releases"][version]
    assert sorted(release["fragments"]) == sorted(p.name for p in FRAGMENTS.glob("*.yml"))
    entries = [entry for section in release["changes"].values() if isinstance(section, list) for entry in section]
    for fragment in FRAGMENTS.glob("*.yml"):
        for section, items in yaml.safe_load(fragment.read_text()).items():
            for item in items if isinstance(items, list) else []:
                assert item in entries, f"{fragment.name}: {section} entry missing from changelog.yaml"
    assert f"v{version}" in (tmp_path / "CHANGELOG.rst").read_text()
