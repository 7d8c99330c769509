# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks on what a task asks for, made before anything is written."""

from __future__ import annotations

import collections
import math
import os

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.names import (
    TEMP_TOKEN_PLACEHOLDER, is_temp_name_of, temp_name_shape)


def check_parent_directory(path, option, check_mode=False):
    """Fail unless the directory that will hold ``path`` exists; return whether it does.

    In check mode a missing directory is no error: the task that makes it
    (``ansible.builtin.file state=directory``) made nothing in check mode
    either, so the module reports what it would write there instead.
    """
    directory = os.path.dirname(path) or '.'
    if os.path.isdir(directory):
        return True
    if not check_mode:
        raise HandoffError('%s %s: its directory %s does not exist; create it first (for example with '
                           'ansible.builtin.file state=directory)' % (option, path, directory), path=path)
    return False


def check_not_directory(path, option):
    """Fail when ``path`` names an existing directory where a file path is needed."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise HandoffError('%s %s is a directory; give the full path of the file, e.g. %s'
                           % (option, path, os.path.join(path, 'NAME')), path=path)


SECONDS_PER_DAY = 86400
SECONDS_PER_YEAR = 366 * SECONDS_PER_DAY


class _Bounds:
    """The range an option's number must lie in: ``minimum`` itself allowed or not, ``maximum`` allowed."""

    def __init__(self, minimum, maximum, minimum_means=None, minimum_allowed=True, unit='seconds'):
        self.minimum = minimum
        self.maximum = maximum
        self.minimum_means = minimum_means
        self.minimum_allowed = minimum_allowed
        self.unit = unit

    def holds(self, value):
        above = value >= self.minimum if self.minimum_allowed else value > self.minimum
        return math.isfinite(value) and above and value <= self.maximum

    def describe(self):
        if self.minimum_allowed and self.minimum_means:
            low = 'it must be %s (%s) or more %s' % (self.minimum, self.minimum_means, self.unit)
        elif self.minimum_allowed:
            low = 'it must be %s or more %s' % (self.minimum, self.unit)
        else:
            low = 'it must be more than %s %s' % (self.minimum, self.unit)
        return '%s, and at most %s%s' % (low, self.maximum, _in_words(self.maximum, self.unit))


def _in_words(value, unit):
    for size, name in ((SECONDS_PER_YEAR, '366 days'), (SECONDS_PER_DAY, 'a day'), (3600, 'an hour')):
        if unit == 'seconds' and value == size:
            return ' (%s)' % name
    return ''


# Every number option of the modules. A duration that never ends (inf), never compares (nan) or outlasts
# any sane run would make a task hang or fail with a traceback instead of doing what was asked.
NUMBER_BOUNDS = {
    'lock_timeout': _Bounds(0, SECONDS_PER_YEAR, 'fail at once when held'),
    'timeout': _Bounds(0, SECONDS_PER_YEAR, 'look once'),
    'stable_for': _Bounds(0, SECONDS_PER_YEAR, 'no waiting'),
    'min_age': _Bounds(0, SECONDS_PER_YEAR, 'no waiting'),
    'remove_temps_older_than': _Bounds(0, SECONDS_PER_YEAR, 'remove every leftover temp'),
    'sleep': _Bounds(0, SECONDS_PER_DAY, minimum_allowed=False),
    # Each kept version is a full copy beside the file: a hundred is far past any rollback an operator walks back.
    'keep_previous': _Bounds(0, 100, 'keep none', unit='versions'),
    # Renewed every third of it while held: much shorter and the renewals become a busy loop; a crashed
    # holder blocks everybody for one TTL, and a long job needs no long TTL (the lease is renewed).
    'lock_lease_ttl': _Bounds(0.1, SECONDS_PER_DAY),
    'redis_timeout': _Bounds(0, 3600, minimum_allowed=False),
    'redis_port': _Bounds(1, 65535, unit='(a TCP port)'),
    'redis_db': _Bounds(0, 2 ** 31 - 1, unit='(a database number)'),
}


def check_number(option, value):
    """Fail unless ``value`` of the number option ``option`` is finite and within its NUMBER_BOUNDS."""
    bounds = NUMBER_BOUNDS[option]
    if not bounds.holds(value):
        raise HandoffError('%s is %s; %s' % (option, value, bounds.describe()))


def check_numbers(params):
    """Check every number option present in ``params`` (None: not given) once, before anything is done."""
    for option in NUMBER_BOUNDS:
        if params.get(option) is not None:
            check_number(option, params[option])


def check_absolute(option, path, other_fix=None):
    """Fail when ``path`` is relative: the module's working directory on the target is nobody's choice.

    ``other_fix`` names a second way out, as ``give chdir and a path relative to it``.
    """
    if not os.path.isabs(path):
        raise HandoffError('%s %s is a relative path; give an absolute path (starting with /)%s: on the target a '
                           'relative one would be taken from wherever the module happens to run'
                           % (option, path, ', or %s' % other_fix if other_fix else ''), path=path)


PlannedFile = collections.namedtuple('PlannedFile', ['option', 'path', 'temps'])
PlannedFile.__doc__ = """A file a task will create or replace: ``temps`` when it is written through protocol temps
``.NAME.<12 hex>.tmp`` beside it (data, markers), not for a lock file, which is opened in place."""

DEFAULT_NAME_MAX = 255


def name_max(directory):
    """The longest file name in bytes the filesystem of ``directory`` takes (NAME_MAX; 255 if unknown).

    A directory not made yet is asked of its nearest existing parent, whose filesystem it will be on.
    """
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    try:
        return os.pathconf(directory, 'PC_NAME_MAX')
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX


def _derived_names(planned):
    """``(what, name)`` of every directory entry a planned file may create."""
    name = os.path.basename(planned.path)
    names = [(planned.option, name)]
    if planned.temps:
        names.append(('the temp file of %s' % planned.option, temp_name_shape(name)))
    return names


def check_name_lengths(planned_files):
    """Fail, before anything is touched, when a file or a temp file of ``planned_files`` would have a name too long.

    Otherwise the data could be renamed into place and only its marker then fail
    with "File name too long", which leaves a published file without a marker.
    """
    limits = {}
    for planned in planned_files:
        directory = os.path.dirname(planned.path) or '.'
        if directory not in limits:
            limits[directory] = name_max(directory)
        limit = limits[directory]
        for what, name in _derived_names(planned):
            length = len(os.fsencode(name))
            if length > limit:
                spare = len(os.fsencode(os.path.basename(planned.path))) - (length - limit)
                raise HandoffError('%s %s: the name %s of %s is %d bytes, and the filesystem of %s takes names of '
                                   'at most %d bytes (NAME_MAX); shorten the file name of %s to at most %d bytes'
                                   % (planned.option, planned.path, name.replace(TEMP_TOKEN_PLACEHOLDER, '<12 hex>'), what,
                                      length, directory, limit, planned.option, spare), path=planned.path)


def _resolved(path):
    """``path`` with its directory resolved (symlinks, ``..``), so two spellings of one file compare equal."""
    return os.path.join(os.path.realpath(os.path.dirname(path) or '.'), os.path.basename(path))


def check_distinct(planned_files):
    """Fail when two planned files are one path, or one is a protocol temp name of another that has temps.

    A lock_path equal to dest would publish the data with the lock file's mode
    and write owner records into it; a marker_path equal to a lock path would
    be emptied on every release.
    """
    resolved = [(planned, _resolved(planned.path)) for planned in planned_files]
    for index, (first, first_path) in enumerate(resolved):
        for second, second_path in resolved[index + 1:]:
            if first_path == second_path:
                raise HandoffError('%s and %s are the same path (%s); each must be a file of its own'
                                   % (first.option, second.option, second.path), path=second.path)
            for one, one_path, other, other_path in ((first, first_path, second, second_path),
                                                     (second, second_path, first, first_path)):
                if other.temps and is_temp_name_of(one_path, other_path):
                    raise HandoffError('%s %s is named like a temp file of %s %s (.NAME.<12 hex>.tmp); such names '
                                       'are created and removed by the protocol, so choose another %s'
                                       % (one.option, one.path, other.option, other.path, one.option),
                                       path=one.path)


def check_planned_files(planned_files):
    """All checks of the files a task will create: absolute paths, name lengths, no two the same (with temps)."""
    planned_files = [planned for planned in planned_files if planned.path]
    for planned in planned_files:
        check_absolute(planned.option, planned.path)
    check_name_lengths(planned_files)
    check_distinct(planned_files)
