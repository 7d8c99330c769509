# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lock kinds behind one interface, picked in one place."""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.base import HeldLock, LockKind
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.kinds import LOCK_TYPES, lock_argument_spec, lock_kind
from ansible_collections.lockstep.handoff.plugins.module_utils._lock.locking import acquire, takes_lock_file


def test_every_lock_type_the_options_offer_is_a_kind():
    assert lock_argument_spec()['lock_type']['choices'] == list(LOCK_TYPES)
    assert all(isinstance(lock_kind(name), LockKind) for name in LOCK_TYPES)


def test_only_the_redis_lease_names_no_file():
    assert [name for name in LOCK_TYPES if not takes_lock_file(name)] == ['redis']


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(HandoffError, match="lock_type 'posix' is not one of flock, fcntl, redis"):
        lock_kind('posix')


@pytest.mark.parametrize('lock_type', ['flock', 'fcntl'])
def test_a_kernel_lock_is_a_held_lock_with_nothing_to_confirm_and_no_token(tmp_path, lock_type):
    with acquire(str(tmp_path / 'x.lock'), 0, lock_type=lock_type) as lock:
        assert isinstance(lock, HeldLock) and lock.fencing_token is None
        lock.confirm_before_publish('/srv/x')
        lock.confirm_held('work ran', {})


def test_a_kind_must_implement_the_whole_interface():
    class Partial(HeldLock):
        def release(self):
            pass

    with pytest.raises(TypeError):
        Partial()  # pylint: disable=abstract-class-instantiated
