# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""How much work each mode does: ``--quick`` (smoke run), the default, and ``--full``.

Sizes shrink in the cheaper modes, never the shape of a case: every module
run costs the same whether a loop has 10 items or 200, so per-item ratios
carry over. ``--full`` runs the sizes the issue names. The small-files case
sends the issue's 50 and 500 files to 3 and 20 hosts outside ``--quick``: a
directory upload costs the same three steps for 5 files or 500 while copy's
cost grows with the count, so its ratio only means something at the sizes
the targets name. Its first point is the one every tool runs at with the
full repetitions; the others get ``small_point_runs``, and ``copy`` (minutes
per run) only ``copy_runs``. The contended case
keeps the issue's 200 files per run outside ``--quick`` for the same reason:
one playbook start-up per consumer is spread over the batch, so a smaller
batch would understate the ratio. The rollout case skips a peer run whose
predicted time passes ``rollout_cap_s`` (builtin loops over 200 files on 20
hosts take many minutes per run) and says so in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIB = 1024 * 1024


@dataclass(frozen=True)
class Profile:  # pylint: disable=too-many-instance-attributes  # one field per knob
    """The knobs of one mode."""

    name: str
    runs: int
    large_sizes_mib: tuple[int, ...]
    rerun_size_mib: int
    small_points: tuple[tuple[int, int], ...]  # (files, hosts); the first is measured most
    small_point_runs: int
    copy_runs: int
    latency_trials: int
    consumers: int
    contended_files: int
    scale_hosts: tuple[int, ...]
    rollout_hosts: tuple[int, ...]
    rollout_files: tuple[int, ...]
    rollout_cap_s: float  # a rollout run predicted to take longer is not run
    rollout_strategies: tuple[str, ...] = ()  # the rollout case's strategies; () is every one it knows

    @property
    def max_hosts(self) -> int:
        """Hosts the fleet needs: the largest of the cases."""
        return max(self.scale_hosts + self.rollout_hosts + tuple(hosts for files, hosts in self.small_points))

    def with_runs(self, runs: int | None) -> Profile:
        """This profile with ``runs`` repetitions, when given (and no more than that anywhere)."""
        if runs is None:
            return self
        return replace(self, runs=runs, small_point_runs=min(self.small_point_runs, runs),
                       copy_runs=min(self.copy_runs, runs))

    def with_rollout(self, hosts: list[int] | None, files: list[int] | None,
                     strategies: list[str] | None) -> Profile:
        """This profile with the rollout case's host counts, file counts and strategies, when given (to re-measure
        some points)."""
        return replace(self, rollout_hosts=tuple(hosts or self.rollout_hosts),
                       rollout_files=tuple(files or self.rollout_files),
                       rollout_strategies=tuple(strategies or self.rollout_strategies))

    def with_small_points(self, points: list[tuple[int, int]] | None) -> Profile:
        """This profile with the small-files case's ``(files, hosts)`` points, when given."""
        return replace(self, small_points=tuple(points or self.small_points))


PROFILES = {
    "quick": Profile("quick", runs=3, large_sizes_mib=(8, 32), rerun_size_mib=32,
                     small_points=((50, 3), (200, 6)), small_point_runs=1, copy_runs=1,
                     latency_trials=20, consumers=8, contended_files=20, scale_hosts=(3, 6),
                     rollout_hosts=(5,), rollout_files=(1, 20), rollout_cap_s=300),
    "default": Profile("default", runs=5, large_sizes_mib=(16, 64, 256, 1024), rerun_size_mib=64,
                       small_points=((50, 3), (500, 3), (50, 20), (500, 20)), small_point_runs=2, copy_runs=1,
                       latency_trials=20, consumers=8, contended_files=200, scale_hosts=(5, 10, 20),
                       rollout_hosts=(5, 20), rollout_files=(1, 20, 200), rollout_cap_s=300),
    "full": Profile("full", runs=5, large_sizes_mib=(16, 64, 256, 1024), rerun_size_mib=256,
                    small_points=((50, 3), (500, 3), (50, 20), (500, 20)), small_point_runs=3, copy_runs=3,
                    latency_trials=40, consumers=8, contended_files=200, scale_hosts=(5, 10, 20, 40),
                    rollout_hosts=(5, 20), rollout_files=(1, 20, 200), rollout_cap_s=900),
}
