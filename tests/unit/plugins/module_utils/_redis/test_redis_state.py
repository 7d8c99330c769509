# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis mirror of hand-off states and the wait on it, against a real redis-server."""

from __future__ import annotations

import pytest

from ansible_collections.lockstep.handoff.plugins.module_utils._redis.options import redis_argument_spec
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._protocol.marker import Marker
from ansible_collections.lockstep.handoff.plugins.module_utils._redis.state import (
    PublishStateMirror, StateWait, latest_state, state_key)


def options(redis_server, **params):
    """Module parameters as AnsibleModule would give them: every redis option at its default, then ``params``."""
    values = {name: spec.get('default') for name, spec in redis_argument_spec().items()}
    values.update(redis_host='127.0.0.1', redis_port=redis_server.port, redis_password=redis_server.password)
    values.update(path='/srv/x', redis_state_host='h1', timeout=5.0, newer_than_generation=None,
                  require_checksum=False, state='present', stable_for=None, min_age=None)
    values.update(params)
    return values


@pytest.fixture
def mirror(redis_server, tmp_path):
    marker_path = tmp_path / 'x.done'
    return PublishStateMirror(options(redis_server, dest='/srv/x'), 'h1', str(marker_path)), marker_path


def newest(redis_server):
    with redis_server.server.connect() as connection:
        return latest_state(connection, state_key('lockstep:handoff:', 'h1', '/srv/x'))[1]


def test_a_late_mirror_never_takes_the_state_back_a_generation(redis_server, mirror):
    publisher, marker_path = mirror
    Marker.complete('a' * 64, 3, 'p', 2).write(str(marker_path))
    publisher.after_phase('publish', {'dest': '/srv/x'})
    Marker.complete('b' * 64, 3, 'p', 1).write(str(marker_path))
    publisher.after_phase('publish', {'dest': '/srv/x'})
    assert newest(redis_server)['generation'] == '2'


def test_an_unchanged_marker_is_not_recorded_twice(redis_server, mirror):
    publisher, marker_path = mirror
    Marker.complete('a' * 64, 3, 'p', 1).write(str(marker_path))
    for dummy in range(3):
        publisher.after_phase('probe', {'dest': '/srv/x', 'action': 'none'})
    assert redis_server.command('XLEN', 'lockstep:handoff:state:h1:/srv/x') == 1


def test_a_legacy_marker_is_waited_for_as_complete_without_checksum(redis_server, mirror):
    publisher, marker_path = mirror
    marker_path.write_bytes(b'')
    publisher.after_phase('publish', {'dest': '/srv/x'})
    result = StateWait(options(redis_server)).run()
    assert result['marker'] == {'state': 'complete', 'legacy': True} and result['sha256'] is None
    with pytest.raises(HandoffError, match='has no sha256 and require_checksum is true'):
        StateWait(options(redis_server, timeout=0, require_checksum=True)).run()


def test_a_wait_times_out_with_what_it_saw_last(redis_server, mirror):
    publisher, marker_path = mirror
    publisher.after_phase('probe', {'dest': '/srv/x', 'action': 'transfer'})
    with pytest.raises(HandoffError) as caught:
        StateWait(options(redis_server, timeout=0.3)).run()
    assert caught.value.msg.startswith('timed out after 0.3s waiting for h1:/srv/x in Redis at redis://127.0.0.1:')
    assert 'the producer is publishing' in caught.value.msg and caught.value.details['redis_reconnects'] == 0


def test_a_failure_without_marker_is_recorded_with_its_reason(redis_server, mirror):
    publisher, dummy = mirror
    assert publisher.after_failure(HandoffError('disk full')) == ''
    with pytest.raises(HandoffError, match=r'the producer marked h1:/srv/x in Redis .* failed: disk full'):
        StateWait(options(redis_server)).run()


def test_what_only_a_file_can_tell_is_refused(redis_server):
    with pytest.raises(HandoffError, match='stable_for, state=absent cannot be judged from the Redis state'):
        StateWait(options(redis_server, stable_for=1.0, state='absent')).run()
