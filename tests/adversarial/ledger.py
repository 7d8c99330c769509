# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Counts per raced path (trials, swaps that landed, compromises), written where the lead can quote them.

Each path writes ``tests/output/adversarial/<path>.json``; every write also
rebuilds ``tests/output/adversarial-summary.json`` from all of them (parallel
workers each run some of the paths).
"""

from __future__ import annotations

import fcntl
import json
import time
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / 'output'
PER_PATH = OUTPUT / 'adversarial'
SUMMARY = OUTPUT / 'adversarial-summary.json'


class PathLedger:
    """What the trials of one path came to."""

    def __init__(self, name, where):
        self.name = name
        self.where = where
        self.trials = 0
        self.outcomes = dict(correct=0, succeeded_wrongly=0, failed_clearly=0, hung=0, failed_unclearly=0)
        self.compromised_trials = 0
        self.compromises = {}
        self.examples = []
        self.failure_messages = {}
        self.failure_examples = []
        self.racer = None
        self.stopped_early = None
        self.started = time.monotonic()

    def record(self, trial, run, compromises):
        self.trials += 1
        if run.hung:
            self.outcomes['hung'] += 1
        elif not run.failed:
            self.outcomes['correct' if not compromises else 'succeeded_wrongly'] += 1
        elif run.clear_failure:
            self.outcomes['failed_clearly'] += 1
            first_line = run.msg.splitlines()[0][:160] if run.msg else ''
            self.failure_messages[first_line] = self.failure_messages.get(first_line, 0) + 1
            if len(self.failure_examples) < 3:
                self.failure_examples.append(dict(trial=trial, msg=run.msg[:1000]))
        else:
            self.outcomes['failed_unclearly'] += 1
            if len(self.examples) < 5:
                self.examples.append(dict(trial=trial, unclear=True, msg=(run.msg or '')[:300],
                                          result=str(run.result)[-900:]))
        if compromises:
            self.compromised_trials += 1
            for kind in compromises:
                key = kind.split(':')[0]
                self.compromises[key] = self.compromises.get(key, 0) + 1
            if len(self.examples) < 5:
                self.examples.append(dict(trial=trial, compromises=compromises, failed=run.failed, msg=run.msg[:300]))

    def as_dict(self):
        swaps = (self.racer or {}).get('swaps_landed')
        return dict(path=self.name, where=self.where, trials=self.trials, swaps_landed=swaps,
                    compromised_trials=self.compromised_trials, compromises=self.compromises,
                    outcomes=self.outcomes, racer=self.racer, stopped_early=self.stopped_early,
                    examples=self.examples, top_failure_messages=_top(self.failure_messages),
                    failure_examples=self.failure_examples,
                    seconds=round(time.monotonic() - self.started, 1),
                    finished_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))

    def save(self):
        PER_PATH.mkdir(parents=True, exist_ok=True)
        (PER_PATH / ('%s-%s.json' % (self.where, self.name))).write_text(json.dumps(self.as_dict(), indent=2) + '\n')
        with open(OUTPUT / '.adversarial-summary.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            paths = [json.loads(path.read_text()) for path in sorted(PER_PATH.glob('*.json'))]
            SUMMARY.write_text(json.dumps(dict(paths=paths, totals=_totals(paths)), indent=2) + '\n')

    def problems(self):
        """Why this path fails the invariant, or '' when every trial ended clearly and safely."""
        if not self.compromised_trials and not self.outcomes['hung'] and not self.outcomes['failed_unclearly']:
            return ''
        return ('%s (%s): %d of %d trials compromised %s; outcomes %s; racer %s; examples %s'
                % (self.name, self.where, self.compromised_trials, self.trials, self.compromises, self.outcomes, self.racer,
                   json.dumps(self.examples, indent=1)))


def _top(counts, limit=5):
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:limit])


def _totals(paths):
    return dict(trials=sum(path['trials'] for path in paths),
                swaps_landed=sum(path['swaps_landed'] or 0 for path in paths),
                compromised_trials=sum(path['compromised_trials'] for path in paths))
