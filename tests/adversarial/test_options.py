# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options that collide (one file in two roles) or are not finite, through the real modules.

Each must fail with an error that names the option, and leave the directory
exactly as it was: a lock file created at dest, a marker replaced by a lock,
or a wait that never ends is a defect.
"""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from tests.support.upload_request import upload_module_args

from .paths import payload_of, write_source_with_marker
from .targets import run_module

# A finite wait that outlives every case below is a wait that never ends.
HANG_AFTER = 8.0
BAD_NUMBERS = ('nan', 'inf', '-1', '1e300')


def snapshot(top):
    """Every entry below ``top``: kind, mode, owner, size and content digest."""
    entries = {}
    for directory, subdirectories, names in os.walk(top):
        for name in subdirectories + names:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            entries[os.path.relpath(path, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                                   st.st_gid, st.st_size, digest)
    return entries


def scene(tmp_path):
    """A producer's finished file ``data.bin`` (+ marker) and an ``out`` directory to move it to."""
    write_source_with_marker(tmp_path / 'data.bin', payload_of('options'))
    (tmp_path / 'out').mkdir()
    return dict(src=str(tmp_path / 'data.bin'), dest=str(tmp_path / 'out' / 'data.bin'),
                marker=str(tmp_path / 'data.bin.done'), upload=str(tmp_path / 'up.bin'))


def move_args(paths, **options):
    return dict(dict(src=paths['src'], dest=paths['dest'], lock_timeout=2), **options)


def upload_args(paths, **options):
    data = payload_of('upload')
    return upload_module_args('probe', **dict(dict(dest=paths['upload'], lock=True, lock_timeout=2, _direct=False,
                                                   _sha256=hashlib.sha256(data).hexdigest(), _size=len(data)),
                                              **options))


def wait_args(paths, **options):
    return dict(dict(path=paths['src'] + '.absent', timeout=1, sleep=0.2), **options)


COLLISIONS = {
    'locked_move lock_path=dest': ('locked_move', move_args, lambda p: dict(lock_path=p['dest'])),
    'locked_move lock_path=dest.done (marker=move)': (
        'locked_move', move_args, lambda p: dict(lock_path=p['dest'] + '.done', marker='move')),
    'locked_move marker_path=lock_path': ('locked_move', move_args, lambda p: dict(lock_path=p['marker'])),
    'locked_move marker_path=dest': ('locked_move', move_args, lambda p: dict(marker_path=p['dest'])),
    'locked_move dest_marker_path=lock_path': (
        'locked_move', move_args, lambda p: dict(marker='move', dest_marker_path=p['dest'] + '.lk',
                                                 lock_path=p['dest'] + '.lk')),
    'atomic_upload lock_path=dest': ('atomic_upload', upload_args, lambda p: dict(lock_path=p['upload'])),
    'atomic_upload lock_path=dest.done': ('atomic_upload', upload_args, lambda p: dict(lock_path=p['upload'] + '.done')),
    'atomic_upload marker_path=lock_path': (
        'atomic_upload', upload_args, lambda p: dict(marker_path=p['upload'] + '.lk', lock_path=p['upload'] + '.lk')),
    'atomic_upload marker_path=dest': ('atomic_upload', upload_args, lambda p: dict(marker_path=p['upload'])),
    'wait_for_marker marker_path=path': ('wait_for_marker', wait_args, lambda p: dict(marker_path=p['src'] + '.absent')),
}

NUMBERS = {
    ('locked_move', 'lock_timeout'): move_args,
    ('locked_move', 'lock_lease_ttl'): move_args,
    ('atomic_upload', 'lock_timeout'): upload_args,
    ('atomic_upload', 'lock_lease_ttl'): upload_args,
    ('wait_for_marker', 'timeout'): wait_args,
    ('wait_for_marker', 'sleep'): wait_args,
}


def assert_refused(run, option, before, after):
    assert not run.hung, '%s: the module never ended (%s)' % (option, run.msg)
    assert run.failed and not run.result.get('crashed'), 'accepted, or crashed: %s' % (run.result,)
    assert option in run.msg, 'the error does not name %s: %s' % (option, run.msg)
    assert after == before, 'the directory changed although the task was refused: %s -> %s' % (before, after)


@pytest.mark.parametrize('case', sorted(COLLISIONS))
def test_colliding_paths_are_refused_before_anything_changes(tmp_path, case):
    module, base, collision = COLLISIONS[case]
    paths = scene(tmp_path)
    options = collision(paths)
    before = snapshot(tmp_path)
    run = run_module(module, base(paths, **options), str(tmp_path), HANG_AFTER)
    named = 'marker_path' if 'marker_path' in options else 'lock_path'
    assert_refused(run, named, before, {k: v for k, v in snapshot(tmp_path).items() if not k.startswith('args-')})


@pytest.mark.parametrize('value', BAD_NUMBERS)
@pytest.mark.parametrize('module, option', sorted(NUMBERS))
def test_numbers_that_are_not_finite_or_in_range_are_refused(tmp_path, module, option, value):
    paths = scene(tmp_path)
    before = snapshot(tmp_path)
    run = run_module(module, NUMBERS[(module, option)](paths, **{option: value}), str(tmp_path), HANG_AFTER)
    assert_refused(run, option, before, {k: v for k, v in snapshot(tmp_path).items() if not k.startswith('args-')})
