# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the ansible-playbook that forked this worker is gone (a cancelled job).

ansible-runner cancels a job by SIGKILL to ansible-playbook's process group. A worker
runs in a session of its own, so it survives, keeps its ssh connection and finishes its
task for nobody: an upload would still be published seconds after the job shows
``canceled``. Its parent changing (to init or a subreaper) is how the worker can tell.
"""

from __future__ import annotations

import os


class WorkerParent:
    """The parent pid when the task started; ``gone()`` once this process has been re-parented."""

    def __init__(self):
        self.pid = os.getppid()

    def gone(self):
        return os.getppid() != self.pid
