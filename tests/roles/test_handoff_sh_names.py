# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""handoff.sh names temps, markers, locks and state directories exactly as the modules do.

The rules live in plugins/module_utils/_protocol/names.py; handoff.sh mirrors them in bash.
Every row of the table goes through both, and the paths must be equal byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    default_lock_path, default_marker_path, is_protocol_name, is_temp_name_of, temp_name_shape, temp_target_name)

HANDOFF_SH = Path(__file__).resolve().parents[2] / "roles" / "agent" / "files" / "handoff.sh"
LOCALES = ["C", "C.UTF-8"]

LONG = "x" * 255
LONG_UNICODE = "é" * 127  # 254 bytes
DATA_PATHS = [
    "/srv/in/x.csv",
    "/srv/in/with space.csv",
    "/srv/in dir/ünïcødé 文件.csv",
    "/srv/in/.hidden",
    "/srv/in/x.done",
    "/srv/in//x.csv",
    "/srv/in/sub/",
    "/x.csv",
    "//x.csv",
    "x.csv",
    "in/x.csv",
    "/srv/in/" + LONG,
    "/srv/in/" + LONG_UNICODE,
    "/srv/in/a*b?[c].csv",
    "/srv/in/-n",
]
STATE_DIRS = ["", ".handoff", ".handoff/", ".handoff//", "a b/ü", "../state", "/var/lib/handoff",
              "/var/lib/handoff/", "/var/lib/handoff//", "/", "//"]


def sourced(script, *args, locale="C"):
    """Run ``script`` (bash, ARGS as $2...) after sourcing handoff.sh; return its exit status and output."""
    done = subprocess.run(["bash", "-c", '. "$1"; shift; ' + script, "bash", str(HANDOFF_SH), *args],
                          capture_output=True, env={"PATH": "/usr/bin:/bin", "LC_ALL": locale}, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, os.fsdecode(done.stdout)


def state_path(data_path, state_dir, suffix, locale):
    status, out = sourced('HANDOFF_STATE_DIR=$1 _handoff_state_path "$2" "$3"', state_dir, data_path, suffix,
                          locale=locale)
    assert status == 0
    return out[:-1]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("state_dir", STATE_DIRS)
def test_markers_and_locks_are_named_alike_for_every_data_path_and_state_dir(state_dir, locale):
    for data_path in DATA_PATHS:
        assert state_path(data_path, state_dir, ".done", locale) == default_marker_path(data_path, state_dir), data_path
        assert state_path(data_path, state_dir, ".lock", locale) == default_lock_path(data_path, state_dir), data_path


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ["x.csv", "with space", "ünïcødé 文件", ".hidden", "x.done", LONG[:-20],
                                  LONG_UNICODE[:-10]])
def test_temp_names_are_the_ones_the_modules_recognise(tmp_path, name, locale):
    status, temp = sourced('_handoff_temp_path "$1" "$2" && printf %s "$HANDOFF_TEMP"', str(tmp_path), name,
                           locale=locale)
    assert status == 0
    assert temp_target_name(os.path.basename(temp)) == name
    assert is_temp_name_of(temp, str(tmp_path / name))
    assert len(os.fsencode(os.path.basename(temp))) == len(os.fsencode(temp_name_shape(name)))


@pytest.mark.parametrize("name", ["x.csv", "x.done", "x.lock", "x.tmp", ".x.0123456789ab.tmp", ".hidden", "done",
                                  "x.done.csv", "lock", "ü.lock", "a b.tmp"])
def test_an_inbox_skips_the_same_protocol_names(name):
    status, dummy = sourced('_handoff_protocol_name "$1"', name)
    assert (status == 0) is is_protocol_name(name)
