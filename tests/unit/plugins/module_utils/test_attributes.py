"""A new file replacing an old one takes the old one's mode and owner before it becomes visible."""

from __future__ import annotations

import os
import stat

from ansible_collections.lockstep.handoff.plugins.module_utils._attributes import inherit_attributes


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_new_file_takes_the_mode_of_the_file_it_replaces(tmp_path):
    (tmp_path / 'old').write_bytes(b'')
    os.chmod(tmp_path / 'old', 0o604)
    (tmp_path / 'new').write_bytes(b'')
    inherit_attributes(str(tmp_path / 'new'), str(tmp_path / 'old'))
    assert mode_of(tmp_path / 'new') == 0o604


def test_new_file_with_nothing_to_replace_gets_0666_minus_umask(tmp_path):
    (tmp_path / 'new').write_bytes(b'')
    os.chmod(tmp_path / 'new', 0o600)
    previous = os.umask(0o022)
    try:
        inherit_attributes(str(tmp_path / 'new'), str(tmp_path / 'absent'))
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / 'new') == 0o644


def test_a_symlink_being_replaced_lends_nothing(tmp_path):
    (tmp_path / 'target').write_bytes(b'')
    os.chmod(tmp_path / 'target', 0o600)
    (tmp_path / 'old').symlink_to(tmp_path / 'target')
    (tmp_path / 'new').write_bytes(b'')
    previous = os.umask(0o002)
    try:
        inherit_attributes(str(tmp_path / 'new'), str(tmp_path / 'old'))
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / 'new') == 0o664


def test_root_gives_the_new_file_the_old_owner(as_root, tmp_path):
    (tmp_path / 'old').write_bytes(b'')
    os.chown(tmp_path / 'old', 65534, 65534)
    (tmp_path / 'new').write_bytes(b'')
    inherit_attributes(str(tmp_path / 'new'), str(tmp_path / 'old'))
    st = os.stat(tmp_path / 'new')
    assert (st.st_uid, st.st_gid) == (65534, 65534)
