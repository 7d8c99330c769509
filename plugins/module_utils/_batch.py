# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One module run for many files: each file seen by the single-file code as a task of its own.

A batch task gives a list of files, each with a few options of its own (paths,
mode, owner); everything else is the task's. The single-file backends read
``module.params`` (and file attributes through the module), so each file gets
a view of the module whose params are the task's with the file's on top.
"""

from __future__ import annotations

import time

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


class ModuleForItem:
    """The task's AnsibleModule as one file of a batch sees it: the file's own options override the task's.

    ``check_mode`` may be forced on: a batch judges files without moving them
    (all_or_none) through the same code that reports what check mode would do.
    """

    def __init__(self, module, item, check_mode=None):
        self._module = module
        self.params = dict(module.params)
        self.params.update((key, value) for key, value in item.items() if value is not None)
        self.check_mode = module.check_mode if check_mode is None else check_mode

    def __getattr__(self, name):
        return getattr(self._module, name)


def check_distinct(items, key, option):
    """Fail when two files of a batch name the same ``key`` path: one of them would undo the other."""
    seen = set()
    for item in items:
        if item[key] in seen:
            raise HandoffError('%s: %s %s is given twice; each file of a batch needs its own' % (option, key, item[key]),
                               path=item[key])
        seen.add(item[key])


class Deadline:
    """One timeout for a whole batch, measured on the target from the start of the run."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.started = time.monotonic()

    @property
    def elapsed(self):
        return time.monotonic() - self.started

    @property
    def remaining(self):
        return max(self.started + self.timeout - time.monotonic(), 0.0)
