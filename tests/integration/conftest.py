# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for integration tests over the local connection."""

from __future__ import annotations

import pytest

from tests.support.ansible_run import local_inventory


@pytest.fixture(scope='session')
def localhost_inventory(tmp_path_factory):
    """An inventory file holding localhost with the controller's Python."""
    return local_inventory(tmp_path_factory.mktemp('inventory'))
