# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The names protocol v1 gives the files around a data file ``DIR/NAME``.

Every module, backend and check asks here, and ``handoff.sh`` mirrors these
rules (``_handoff_state_path``, ``_handoff_create_temp``; a test compares them):

- temp file ``DIR/.NAME.<12 hex>.tmp`` (same directory, so same filesystem);
- marker ``NAME.done`` and lock ``NAME.lock`` in the state directory, which
  is ``DIR`` itself by default (what the seeds' shell scripts use), a
  subdirectory of ``DIR`` for a relative ``state_dir`` (``.handoff``), or one
  directory for an absolute ``state_dir``;
- a set of files published as one directory ``DEST`` has its manifest
  marker at ``DEST.done`` and its staged archive inside it;
- the versions a promotion replaced (``keep_previous``) beside the file, as
  ``DIR/.NAME.prev-<N>`` (1 the newest), and the record of the last rollback
  as ``DIR/.NAME.rolled-back``: hidden, so never taken as data, and in the
  file's own directory, so that a rollback is one rename(2).
"""

from __future__ import annotations

import os
import re
import secrets

MARKER_SUFFIX = '.done'
LOCK_SUFFIX = '.lock'
TEMP_SUFFIX = '.tmp'
TOKEN_BYTES = 6
# Stands for the random token where a temp name is only measured (NAME_MAX) or shown.
TEMP_TOKEN_PLACEHOLDER = 'f' * (2 * TOKEN_BYTES)
# The archive a set is staged in, inside DEST: its temp is .handoff-set.tar.<12 hex>.tmp.
SET_ARCHIVE_NAME = 'handoff-set.tar'
PREVIOUS_INFIX = '.prev-'
ROLLBACK_RECORD_SUFFIX = '.rolled-back'
_TEMP_NAME = re.compile(r'\.(.+)\.[0-9a-f]{%d}%s' % (2 * TOKEN_BYTES, re.escape(TEMP_SUFFIX)), re.DOTALL)


def state_dir_argument_spec():
    """The ``state_dir`` option of the modules that derive marker and lock paths (the ``state_dir`` doc fragment)."""
    return dict(state_dir=dict(type='path'))


def state_directory(data_path, state_dir=None):
    """The directory that holds the marker and lock of ``data_path``: its own directory without ``state_dir``."""
    directory = os.path.dirname(data_path)
    if not state_dir:
        return directory
    return os.path.join(directory, state_dir)


def _state_path(data_path, state_dir, suffix):
    if not state_dir:
        return data_path + suffix
    return os.path.join(state_directory(data_path, state_dir), os.path.basename(data_path) + suffix)


def default_marker_path(data_path, state_dir=None):
    """The done marker of ``data_path``: ``NAME.done`` in its state directory."""
    return _state_path(data_path, state_dir, MARKER_SUFFIX)


def default_lock_path(data_path, state_dir=None):
    """The lock of ``data_path``: ``NAME.lock`` in its state directory."""
    return _state_path(data_path, state_dir, LOCK_SUFFIX)


def set_directory(dest):
    """The directory a set of files is published as, without trailing slashes (``/`` stays ``/``)."""
    return dest.rstrip('/') or '/'


def temp_name(name):
    """A fresh temp name for ``name``: ``.NAME.<12 hex>.tmp``."""
    return '.%s.%s%s' % (name, secrets.token_hex(TOKEN_BYTES), TEMP_SUFFIX)


def temp_name_shape(name):
    """The temp name of ``name`` with a placeholder token: as long as every real one, for NAME_MAX checks."""
    return '.%s.%s%s' % (name, TEMP_TOKEN_PLACEHOLDER, TEMP_SUFFIX)


def temp_target_name(name):
    """``NAME`` when ``name`` is a temp file name ``.NAME.<12 hex>.tmp``, else None."""
    match = _TEMP_NAME.fullmatch(name)
    return match.group(1) if match else None


def is_temp_name_of(path, owner):
    """Whether ``path`` is named exactly like a temp ``.NAME.<12 hex>.tmp`` of ``owner``, in the same directory.

    Exact, so that the marker's own temp (``.NAME.done.<hex>.tmp``) is not taken
    for a temp of ``NAME``.
    """
    return (temp_target_name(os.path.basename(path)) == os.path.basename(owner)
            and os.path.dirname(path) == os.path.dirname(owner))


def is_protocol_name(name):
    """Whether an inbox entry ``name`` is the protocol's own (dot file, temp, marker, lock), never data to take."""
    return name.startswith('.') or name.endswith((MARKER_SUFFIX, LOCK_SUFFIX, TEMP_SUFFIX))


def previous_name(name, generation):
    """The kept version ``generation`` (1 the newest) of the file ``name``: ``.NAME.prev-<N>``."""
    return '.%s%s%d' % (name, PREVIOUS_INFIX, generation)


def kept_version_path(data_path, keep_previous):
    """The path of the oldest version of ``data_path`` that ``keep_previous`` keeps (None for 0): the longest name."""
    if not keep_previous:
        return None
    return os.path.join(os.path.dirname(data_path), previous_name(os.path.basename(data_path), keep_previous))


def previous_generation(entry, name):
    """N when the directory entry ``entry`` is the kept version ``.NAME.prev-<N>`` of ``name``, else None."""
    prefix = '.%s%s' % (name, PREVIOUS_INFIX)
    if not entry.startswith(prefix):
        return None
    number = entry[len(prefix):]
    return int(number) if number.isdigit() and number[0] != '0' else None


def rollback_record_name(name):
    """The record of the last rollback of ``name``: ``.NAME.rolled-back``."""
    return '.%s%s' % (name, ROLLBACK_RECORD_SUFFIX)
