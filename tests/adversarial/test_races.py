# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every write path, raced by a real second user with inotify-driven symlink, FIFO and hard link swaps.

Each trial must end in a clear error or a correct result, with the trial's
root-only canary unchanged and nothing of it leaked. The counts per path go
to tests/output/adversarial-summary.json.
"""

from __future__ import annotations

import os

import pytest

from .paths import PATHS
from .race import race_path

TRIALS = int(os.environ.get('ADVERSARIAL_TRIALS', '80'))


@pytest.mark.parametrize('name', sorted(PATHS))
def test_attacker_can_at_most_make_the_task_fail(attacker, name):
    uid, gid = attacker
    ledger = race_path(PATHS[name], TRIALS, uid, gid)
    # The racer saw the tasks' files appear (how many of its swaps landed depends on how the code names its temps).
    assert ledger.racer['events'] > 0, 'the racer saw nothing of the trials: %s' % ledger.racer
    assert not ledger.problems(), ledger.problems()
    assert ledger.trials == TRIALS
