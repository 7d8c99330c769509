# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of real SSH hosts on this machine for tests and benchmarks; see harness.py."""
