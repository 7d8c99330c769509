# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""changelogs/changelog.yaml and CHANGELOG.rst are generated from the fragments, and the release they
describe is galaxy.yml's version with every module and role it adds."""

from __future__ import annotations

import importlib.util

import yaml

from tests.support.ansible_run import REPO_ROOT

from .conftest import copy_checkout
from .test_docs import MODULES, ROLES

FRAGMENTS = REPO_ROOT / "changelogs" / "fragments"
GENERATED = ("changelogs/changelog.yaml", "CHANGELOG.rst")
# What a collection's first release can say: it fixes, breaks, deprecates and removes nothing a user had.
FIRST_RELEASE_SECTIONS = {"release_summary", "major_changes", "minor_changes", "known_issues"}
_SPEC = importlib.util.spec_from_file_location("changelog_release", REPO_ROOT / "scripts" / "lib" / "changelog_release.py")
changelog_release = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(changelog_release)


def committed_releases():
    """The releases of the committed changelog.yaml, galaxy.yml's version among them."""
    releases = yaml.safe_load((REPO_ROOT / "changelogs" / "changelog.yaml").read_text())["releases"]
    version = changelog_release.galaxy_version(REPO_ROOT)
    assert version in releases, f"changelog.yaml has no release {version}: run scripts/changelog"
    return releases, version


def test_committed_changelog_is_what_the_fragments_release_to(tmp_path):
    """A fragment added, edited or removed without scripts/changelog leaves the committed files stale."""
    copy_checkout(tmp_path)
    done = changelog_release.release(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    stale = [name for name in GENERATED if (tmp_path / name).read_text() != (REPO_ROOT / name).read_text()]
    assert stale == [], f"{', '.join(stale)} out of date with changelogs/fragments: run scripts/changelog"


def test_the_release_holds_every_new_fragment_and_each_module_and_role_is_listed_once():
    releases, version = committed_releases()
    release = releases[version]
    released_before = {name for other in releases if other != version for name in releases[other].get("fragments", [])}
    assert sorted(release["fragments"]) == sorted(p.name for p in FRAGMENTS.glob("*.yml") if p.name not in released_before)
    entries = [entry for section in release["changes"].values() if isinstance(section, list) for entry in section]
    for fragment in (FRAGMENTS / name for name in release["fragments"]):
        for section, items in yaml.safe_load(fragment.read_text()).items():
            for item in items if isinstance(items, list) else []:
                assert item in entries, f"{fragment.name}: {section} entry missing from changelog.yaml"
    assert "release_summary" in release["changes"]
    modules = [module["name"] for entry in releases.values() for module in entry.get("modules", [])]
    roles = [role["name"] for entry in releases.values() for role in entry.get("objects", {}).get("role", [])]
    assert sorted(modules) == MODULES, "a module's version_added names no release"
    assert sorted(roles) == ROLES, "a role's version_added (meta/argument_specs.yml) names no release"


def test_a_first_release_fixes_nothing():
    """Before the first release nothing was shipped, so a fix or a break of it is rework, not news to a user."""
    releases, version = committed_releases()
    if list(releases) == [version]:
        extra = sorted(set(releases[version]["changes"]) - FIRST_RELEASE_SECTIONS)
        assert extra == [], f"the first release has {extra}: describe what the release offers (the release " \
                            "summary, known_issues), drop pre-release rework, then run scripts/changelog"
