# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``--diff`` shows of a file: its text when small, else why not."""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._fs.dirfd import UnsafeFile, open_regular


def read_for_diff(path, max_size):
    """Return ``{'content': text}``, or ``{'absent'|'binary'|'larger': ...}`` when text cannot be shown.

    Only a regular file is read (a symlink or FIFO swapped in shows as binary, never followed or waited on).
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return {'absent': True}
    except (OSError, UnsafeFile):
        return {'binary': True}
    with os.fdopen(fd, 'rb') as handle:
        raw = handle.read(max_size + 1)
    if len(raw) > max_size:
        return {'larger': max_size}
    if b'\0' in raw:
        return {'binary': True}
    try:
        return {'content': raw.decode('utf-8')}
    except UnicodeDecodeError:
        return {'binary': True}
