# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What --diff shows of a file: its text when small, else why not."""

from __future__ import annotations

import os

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.diff import read_for_diff


def test_absent_file(tmp_path):
    assert read_for_diff(str(tmp_path / 'x'), 100) == {'absent': True}


def test_small_utf8_text_is_shown(tmp_path):
    (tmp_path / 'x').write_text('server { listen 80; }\n# ünïcode\n', encoding='utf-8')
    assert read_for_diff(str(tmp_path / 'x'), 100) == {'content': 'server { listen 80; }\n# ünïcode\n'}


def test_empty_file_is_empty_text(tmp_path):
    (tmp_path / 'x').write_bytes(b'')
    assert read_for_diff(str(tmp_path / 'x'), 100) == {'content': ''}


@pytest.mark.parametrize('size, expected', [
    (100, {'content': 'a' * 100}),
    (101, {'larger': 100}),
])
def test_size_limit_is_inclusive(tmp_path, size, expected):
    (tmp_path / 'x').write_bytes(b'a' * size)
    assert read_for_diff(str(tmp_path / 'x'), 100) == expected


@pytest.mark.parametrize('raw', [b'text\0more', b'\xff\xfe\xfd'], ids=['nul', 'not-utf8'])
def test_binary_content_is_not_shown(tmp_path, raw):
    (tmp_path / 'x').write_bytes(raw)
    assert read_for_diff(str(tmp_path / 'x'), 100) == {'binary': True}


def test_symlink_is_not_followed(tmp_path):
    (tmp_path / 'target').write_text('secret')
    (tmp_path / 'x').symlink_to(tmp_path / 'target')
    assert read_for_diff(str(tmp_path / 'x'), 100) == {'binary': True}


def test_a_fifo_shows_as_binary_at_once_instead_of_hanging(tmp_path, fails_instead_of_hanging):
    os.mkfifo(tmp_path / 'fifo')
    assert read_for_diff(str(tmp_path / 'fifo'), 1024) == {'binary': True}
