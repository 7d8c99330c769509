# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile marker corpus through wait_for_marker and locked_move (one file, and an inbox drain).

Each run happens in a forked child with a deadline, so a hang fails the test instead of
stopping the suite; every case must end in its verdict's outcome or a clear error, and
one hostile marker in a drain must not stop the others.
"""

from __future__ import annotations

import multiprocessing
import os

import pytest

from ansible_collections.lockstep.handoff.plugins.modules import locked_move, wait_for_marker
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError
from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import LockedMove
from ansible_collections.lockstep.handoff.plugins.module_utils._wait import Wait
from tests.support.hostile_markers import CASES, DATA, FILE_KINDS, doc, dumps, plant

FORK = multiprocessing.get_context('fork')
SECONDS = 30


def finishes(run):
    """``run()`` in a forked child: ('ok', result), ('error', message) for a HandoffError, or ('crash', repr)."""
    receiver, sender = FORK.Pipe(duplex=False)

    def child():
        try:
            sender.send(('ok', run()))
        except HandoffError as exc:
            sender.send(('error', exc.msg))
        except BaseException as exc:  # noqa: B036 - whatever escapes a module is what this test reports
            sender.send(('crash', repr(exc)[:500]))

    process = FORK.Process(target=child)
    process.start()
    try:
        if not receiver.poll(SECONDS):
            pytest.fail('still running after %ss: a hostile file made it hang' % SECONDS)
        return receiver.recv()
    finally:
        process.kill()
        process.join()


def cases():
    return [pytest.param(case, id=case.name) for case in CASES]


@pytest.fixture
def dirs(tmp_path):
    for name in ('in', 'out'):
        (tmp_path / name).mkdir()
    return tmp_path


def hand_off(directory, name, case):
    (directory / name).write_bytes(case.data)
    (directory / (name + '.done')).write_bytes(case.content)


@pytest.mark.parametrize('case', cases())
def test_wait_for_marker_ends_in_the_verdict(make_module, dirs, case):
    hand_off(dirs / 'in', 'x.dat', case)
    outcome, detail = finishes(lambda: Wait(make_module(wait_for_marker.argument_spec(), path=str(dirs / 'in' / 'x.dat'),
                                                        timeout=0.5, sleep=0.05)).run())
    if case.verdict == 'complete':
        assert outcome == 'ok', detail
    else:
        assert outcome == 'error', detail
        assert 'x.dat.done' in detail, 'the error does not name the marker: %s' % detail
        if case.verdict == 'failed':
            assert 'failed' in detail, detail


@pytest.mark.parametrize('case', cases())
def test_locked_move_of_one_file_ends_in_the_verdict(make_module, dirs, case):
    hand_off(dirs / 'in', 'x.dat', case)
    src, dest = dirs / 'in' / 'x.dat', dirs / 'out' / 'x.dat'
    outcome, detail = finishes(lambda: LockedMove(make_module(locked_move.argument_spec(), src=str(src), dest=str(dest))).run())
    if case.verdict == 'complete':
        assert outcome == 'ok' and dest.read_bytes() == case.data, detail
        assert not src.exists()
    else:
        assert outcome == 'error', detail
        assert src.read_bytes() == case.data and not dest.exists()


def drain_and_check(make_module, dirs, chosen):
    names = {}
    for number, case in enumerate(chosen):
        names['f%03d.dat' % number] = case
        hand_off(dirs / 'in', 'f%03d.dat' % number, case)
    outcome, detail = finishes(lambda: LockedMove(make_module(locked_move.argument_spec(), src=str(dirs / 'in'),
                                                              dest=str(dirs / 'out'))).run())
    assert outcome in ('ok', 'error'), detail
    moved = {name for name, case in names.items() if case.verdict == 'complete'}
    assert {p.name for p in (dirs / 'out').iterdir() if not p.name.endswith('.lock')} == moved, detail
    for name in moved:
        assert (dirs / 'out' / name).read_bytes() == names[name].data
    assert {p.name for p in (dirs / 'in').iterdir() if not p.name.endswith('.done')} == set(names) - moved


def test_an_inbox_drain_moves_every_complete_file_past_the_hostile_markers(make_module, dirs):
    drain_and_check(make_module, dirs, CASES)


@pytest.fixture
def secrets(tmp_path):
    vault = tmp_path / 'vault'
    vault.mkdir(mode=0o700)
    marker, data = vault / 'secret.done', vault / 'secret.dat'
    marker.write_bytes(dumps(doc()))
    data.write_bytes(DATA)
    return marker, data


@pytest.mark.parametrize('kind', FILE_KINDS)
def test_hostile_kinds_of_file_end_in_an_error_and_nothing_moves(make_module, dirs, secrets, kind):
    src, dest = dirs / 'in' / 'x.dat', dirs / 'out' / 'x.dat'
    plant(kind, src, dirs / 'in' / 'x.dat.done', *secrets)
    waited = finishes(lambda: Wait(make_module(wait_for_marker.argument_spec(), path=str(src), timeout=0.5, sleep=0.05)).run())
    assert waited[0] == 'error', waited
    moved = finishes(lambda: LockedMove(make_module(locked_move.argument_spec(), src=str(src), dest=str(dest))).run())
    assert moved[0] == 'error', moved
    drained = finishes(lambda: LockedMove(make_module(locked_move.argument_spec(), src=str(dirs / 'in'),
                                                      dest=str(dirs / 'out'))).run())
    assert drained[0] in ('ok', 'error'), drained
    assert [p.name for p in (dirs / 'out').iterdir() if not p.name.endswith('.lock')] == []
    assert os.path.lexists(src)
    assert [p.read_bytes() for p in secrets] == [dumps(doc()), DATA]
