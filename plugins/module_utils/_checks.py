# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks on what a task asks for, made before anything is written."""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


def check_parent_directory(path, option):
    """Fail unless the directory that will hold ``path`` exists."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        raise HandoffError('%s %s: its directory %s does not exist; create it first (for example with '
                           'ansible.builtin.file state=directory)' % (option, path, directory), path=path)


def check_not_directory(path, option):
    """Fail when ``path`` names an existing directory where a file path is needed."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise HandoffError('%s %s is a directory; give the full path of the file, e.g. %s'
                           % (option, path, os.path.join(path, 'NAME')), path=path)


def check_non_negative(option, value, zero_means):
    """Fail when a duration option is negative; ``zero_means`` tells the user what 0 does instead."""
    if value < 0:
        raise HandoffError('%s is %s; it must be 0 (%s) or more seconds' % (option, value, zero_means))
