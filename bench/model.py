# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a benchmark case hands to the report: measured series, comparison rows, notes.

Every row compares our series with a peer's series taken in the same run, so
the ratio holds even when other work on the machine slows both down.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


def percentile(samples: list[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in 0..1) of a non-empty sample list."""
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Series:
    """Repeated measurements of one thing; its value is the median (p50)."""

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def value(self) -> float:
        """The median: robust to the odd run slowed by another job on a shared machine."""
        return statistics.median(self.samples)

    def p95(self) -> float:
        """The 95th percentile, for latency distributions."""
        return percentile(self.samples, 0.95)

    def to_dict(self) -> dict:
        """Plain data for the raw results file."""
        return {"label": self.label, "unit": self.unit, "samples": self.samples}


@dataclass(frozen=True)
class Target:
    """A goal from the issue: a bound on ours/peer, or on our own value."""

    text: str
    limit: float
    on_ratio: bool = True
    at_least: bool = False

    def met(self, ours: float, ratio: float) -> bool:
        """Whether the measured value stays within the bound (at or above it for ``at_least``)."""
        value = ratio if self.on_ratio else ours
        return value >= self.limit if self.at_least else value <= self.limit


@dataclass
class Row:
    """One line of the summary table: our series against a peer's."""

    case: str
    ours: Series
    peer: Series
    target: Target | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        """ours / peer, both medians."""
        return self.ours.value / self.peer.value

    def met(self) -> bool | None:
        """Whether the target holds; None when the issue sets no target for this row."""
        if self.target is None:
            return None
        return self.target.met(self.ours.value, self.ratio)


@dataclass
class CaseResult:
    """Everything one case measured: summary rows, markdown notes, data for plots."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
