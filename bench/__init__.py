# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks of lockstep.handoff against named peers, ratios measured in the same run.

``bench/run`` (or ``python -m bench`` from the repository root, with the
controller venv's Python) starts its own fleet of real sshd hosts, times each
case against its peer, prints the table and writes docs/benchmarks/report.md.
"""
