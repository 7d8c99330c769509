# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write changelogs/changelog.yaml and CHANGELOG.rst for the version galaxy.yml names, from the fragments.

The entry of that version is released again from scratch each time (dropped, then
``antsibull-changelog release``), so a fragment edited, added or removed since the last run shows;
earlier releases stay as they are. The release date stays too, unless a date is given (the day the
version ships). tests/ecosystem/test_changelog.py fails when the committed files differ from what this
writes, so after adding or editing a fragment run scripts/changelog.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def galaxy_version(root: Path) -> str:
    """The collection version galaxy.yml names: the release the fragments belong to."""
    return yaml.safe_load((root / "galaxy.yml").read_text())["version"]


def release(root: Path, date: str | None = None) -> subprocess.CompletedProcess:
    """Release galaxy.yml's version in ``root`` again from its fragments, keeping its date unless ``date``."""
    version = galaxy_version(root)
    changes_file = root / "changelogs" / "changelog.yaml"
    if changes_file.is_file():
        changes = yaml.safe_load(changes_file.read_text())
        previous = changes["releases"].pop(version, {})
        date = date or previous.get("release_date")
        changes_file.write_text(yaml.safe_dump(changes, sort_keys=False))
    venv_bin = Path(sys.executable).parent
    # antsibull-changelog finds the modules and roles (version_added) with the ansible-doc on PATH.
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(venv_bin / "antsibull-changelog"), "release", "--version", version, "--reload-plugins",
                           "--date", date or datetime.date.today().isoformat()],
                          cwd=root, env=env, capture_output=True, text=True, check=False)


if __name__ == "__main__":
    done = release(ROOT, *sys.argv[1:2])
    sys.stdout.write(done.stdout + done.stderr)
    sys.exit(done.returncode)
