"""A fleet of real SSH hosts on this machine for tests and benchmarks; see harness.py."""
