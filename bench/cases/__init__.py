# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark cases, in the order they run; each maps a Context to a CaseResult."""

from bench.cases import contended_move, fleet_scale, large_file, marker_latency, rollout, small_files

CASES = {
    "large_file": large_file.run,
    "small_files": small_files.run,
    "marker_latency": marker_latency.run,
    "contended_move": contended_move.run,
    "fleet_scale": fleet_scale.run,
    "rollout": rollout.run,
}
