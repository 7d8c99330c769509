# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn an OSError into a sentence that says what to do about it.

A bare ``[Errno 28] No space left on device`` does not tell an operator which
filesystem is full or by how much; these messages do.
"""

from __future__ import annotations

import errno
import os
import pwd

from ansible_collections.lockstep.handoff.plugins.module_utils._become import become_in_use
from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError

# What a permission error adds, by become_in_use(): another user when become is in use, become when it is not.
BECOME_HINTS = {True: ', or become (become_user) a user who has it', False: ', or use become', None: ''}


def filesystem_space(path):
    """Free and total bytes, and the read-only flag, of the filesystem holding ``path``."""
    st = os.statvfs(path)
    return {
        'free_bytes': st.f_bavail * st.f_frsize,
        'total_bytes': st.f_blocks * st.f_frsize,
        'read_only': bool(st.f_flag & os.ST_RDONLY),
    }


def _user_name():
    uid = os.geteuid()
    try:
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return 'uid %d' % uid


def _can(path, mode):
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def _access_fix(path):
    """What would let this user do it: the directory on the way it may not enter, else the one it must write.

    ``path`` is the file worked on, or the directory an entry is made in.
    Become is suggested only when the module does not run through it already,
    another become user only when it does; neither when that cannot be told.
    """
    path = os.path.abspath(path)
    ancestors = []
    current = path if os.path.isdir(path) else os.path.dirname(path)
    while True:
        ancestors.append(current)
        if os.path.dirname(current) == current:
            break
        current = os.path.dirname(current)
    blocked = [directory for directory in reversed(ancestors) if os.path.isdir(directory) and not _can(directory, os.X_OK)]
    if blocked:
        fix = 'that user may not enter %s (no x permission); give it search permission there' % blocked[0]
    elif not _can(ancestors[0], os.W_OK):
        fix = 'make %s writable for that user' % ancestors[0]
    else:
        fix = 'give that user access to %s' % path
    if os.geteuid() == 0:
        return fix
    return fix + BECOME_HINTS[become_in_use()]


def explain(exc, doing, path):
    """Return a HandoffError for ``exc`` raised while ``doing`` on ``path``."""
    directory = os.path.dirname(path) or '.'
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        try:
            space = filesystem_space(directory)
            where = ' (%d bytes free of %d)' % (space['free_bytes'], space['total_bytes'])
        except OSError:
            where = ''
        msg = ('%s %s failed: the disk is full: no space left on the filesystem holding %s%s; '
               'free space there and re-run' % (doing, path, directory, where))
    elif code == errno.EROFS:
        msg = ('%s %s failed: the filesystem holding %s is mounted read-only; '
               'remount it read-write or choose another destination' % (doing, path, directory))
    elif code in (errno.EACCES, errno.EPERM):
        msg = '%s %s failed: permission denied for %s; %s' % (doing, path, _user_name(), _access_fix(path))
    elif code == errno.ELOOP:
        msg = '%s %s failed: it is a symlink, and this module never follows one there' % (doing, path)
    elif code == errno.ENOENT:
        msg = '%s %s failed: %s does not exist' % (doing, path, path)
    else:
        msg = '%s %s failed: %s' % (doing, path, exc.strerror or exc)
    return HandoffError(msg, errno=errno.errorcode.get(code, str(code)), path=path)


class explained:  # pylint: disable=invalid-name
    """Context manager: re-raise an OSError from the block as ``explain(exc, doing, path)``."""

    def __init__(self, doing, path):
        self.doing = doing
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None and issubclass(exc_type, OSError):
            raise explain(exc, self.doing, self.path) from exc
        return False
