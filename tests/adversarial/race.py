# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one path's trials on this machine while the attacker races them; return its ledger."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from .arena import Arena
from .attacker import RacerProcess, copy_racer
from .ledger import PathLedger

# On code that hangs, each hang costs a full deadline: after this many the path stops (and fails).
MAX_HANGS = int(os.environ.get('ADVERSARIAL_MAX_HANGS', '3'))


def race_path(path, trials, attacker_uid, gid):
    """All trials of ``path``: prepare each, start the racer, run them (``path.parallel_trials`` at a time), stop the
    racer, judge each.

    The racer stops before any judging: it swaps a protocol name whenever the file is opened, so the judge's own reads
    of a finished trial (the dest marker, say) would have it swap what the task left behind, after the task.
    """
    ledger = PathLedger(path.name, 'fast')
    arena = Arena(gid, trials, path.cross_device)
    racer = None
    try:
        preplants = []
        for trial in arena.trials:
            preplants += path.prepare(arena, trial)
        arguments = ['--canary-dir', str(arena.canaries), '--mode', path.mode]
        for root in arena.roots():
            arguments += ['--root', str(root)]
        for spec in path.on:
            arguments += ['--on', spec]
        for spec in preplants:
            arguments += ['--preplant', spec]
        racer = RacerProcess.local(copy_racer(arena.base), arguments)
        with ThreadPoolExecutor(max_workers=path.parallel_trials) as pool:
            hung = []
            runs = list(pool.map(lambda trial: attempt(path, arena, trial, ledger, hung), arena.trials))
        ledger.racer = racer.stop()
        racer = None
        for trial, run in zip(arena.trials, runs):
            if run is None:
                continue
            compromises = path.wrong_result(arena, trial, run, attacker_uid)
            compromises += arena.verdict(trial, run.output + json.dumps(run.result))
            if run.hung:
                compromises.append('hang')
            ledger.record(trial, run, compromises)
    finally:
        if racer is not None:
            racer.stop()
        arena.remove()
    ledger.save()
    return ledger


def attempt(path, arena, trial, ledger, hung):
    """Run one trial, or None once the path has hung too often (each hang costs a whole deadline); a trial that hangs
    joins ``hung``."""
    if len(hung) >= MAX_HANGS:
        ledger.stopped_early = 'stopped after %d hangs' % MAX_HANGS
        return None
    run = path.attempt(arena, trial)
    if run.hung:
        hung.append(trial)
    return run
