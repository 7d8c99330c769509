# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the kernel's login uid: a value, unset, or not to be read (no /proc, no audit support) - never a guess."""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils import _become
from ansible_collections.lockstep.handoff.plugins.module_utils._become import BECOME_TOOL_VARIABLES, become_in_use, login_uid


@pytest.fixture
def login_uid_file(tmp_path, monkeypatch):
    """``write(text)`` makes the login uid file hold ``text``; no become tool's variable is set."""
    path = tmp_path / 'loginuid'
    monkeypatch.setattr(_become, 'LOGIN_UID_PATH', str(path))
    for name in BECOME_TOOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return path.write_text


@pytest.mark.parametrize('text, uid', [('1000', 1000), ('0', 0), ('4294967295', None), ('', None), ('x', None)])
def test_login_uid_is_the_number_or_none_when_unset_or_unreadable(login_uid_file, text, uid):
    login_uid_file(text)
    assert login_uid() == uid


def test_no_login_uid_file_means_none_and_become_unknown(login_uid_file):
    assert login_uid() is None and become_in_use() is None
