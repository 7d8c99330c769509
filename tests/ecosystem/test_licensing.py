# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every code file the repository tracks names its licence by SPDX identifier, as collections do for REUSE."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_SUFFIXES = ('.py', '.sh', '.yml', '.yaml', '.ini')
NOT_CODE = ('docs/', 'changelogs/')
SPDX = 'SPDX-License-Identifier: GPL-3.0-or-later'


def code_files():
    tracked = subprocess.run(['git', 'ls-files'], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split():
        path = REPO_ROOT / name
        if name.startswith(NOT_CODE) or path.is_symlink() or not path.is_file() or not path.stat().st_size:
            continue
        if name.endswith(CODE_SUFFIXES) or name.startswith(('scripts/', '.ci/')):
            yield name, path


def test_every_code_file_carries_the_spdx_licence_identifier():
    files = dict(code_files())
    assert len(files) > 200
    missing = [name for name, path in files.items() if SPDX not in ''.join(path.read_text().splitlines(True)[:8])]
    assert missing == []
