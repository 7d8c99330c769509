"""How much work each mode does: ``--quick`` (smoke run), the default, and ``--full``.

Sizes shrink in the cheaper modes, never the shape of a case: every module
run costs the same whether a loop has 10 items or 200, so per-item ratios
carry over. ``--full`` runs the sizes the issue names. The small-files case
keeps the issue's 50 files everywhere: a directory upload costs the same
three steps for 5 files or 50 while copy's cost grows with the count, so its
ratio only means something at the size the target names. The contended case
keeps the issue's 200 files per run outside ``--quick`` for the same reason:
one playbook start-up per consumer is spread over the batch, so a smaller
batch would understate the ratio.
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
    small_files: int
    small_hosts: int
    latency_trials: int
    consumers: int
    contended_files: int
    scale_hosts: tuple[int, ...]

    @property
    def max_hosts(self) -> int:
        """Hosts the fleet needs: the largest of the cases."""
        return max(self.scale_hosts + (self.small_hosts,))

    def with_runs(self, runs: int | None) -> Profile:
        """This profile with ``runs`` repetitions, when given."""
        return self if runs is None else replace(self, runs=runs)


PROFILES = {
    "quick": Profile("quick", runs=3, large_sizes_mib=(8, 32), rerun_size_mib=32, small_files=50,
                     small_hosts=3, latency_trials=20, consumers=8, contended_files=20,
                     scale_hosts=(3, 6)),
    "default": Profile("default", runs=5, large_sizes_mib=(16, 64, 256), rerun_size_mib=64,
                       small_files=50, small_hosts=3, latency_trials=20, consumers=8,
                       contended_files=200, scale_hosts=(5, 10, 20)),
    "full": Profile("full", runs=5, large_sizes_mib=(16, 64, 256, 1024), rerun_size_mib=256,
                    small_files=50, small_hosts=3, latency_trials=40, consumers=8,
                    contended_files=200, scale_hosts=(5, 10, 20, 40)),
}
