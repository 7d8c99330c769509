# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the module runs through become, told from what the kernel and the become tools leave behind.

A hint to "use become" is wrong advice when become is in use already, and with
``su`` nothing in the environment says so. The kernel's login uid does: it is
set when the session logs in (``pam_loginuid`` in sshd, login and cron) and
kept across ``su``, ``sudo`` and ``doas``, so it still names the login user
when the module runs as another. Where neither tells, the answer is "unknown".
"""

from __future__ import annotations

import os

LOGIN_UID_PATH = '/proc/self/loginuid'
# The kernel's (uid_t)-1: no login set the login uid (a daemon, a container without pam_loginuid).
LOGIN_UID_UNSET = 4294967295
# Set by the become tool for the command it runs: sudo, doas (OpenBSD and OpenDoas), pkexec.
BECOME_TOOL_VARIABLES = ('SUDO_USER', 'DOAS_USER', 'PKEXEC_UID')


def login_uid():
    """The uid this session logged in as, or None when no login set it or it cannot be read."""
    try:
        with open(LOGIN_UID_PATH) as handle:
            uid = int(handle.read())
    except (OSError, ValueError):
        return None
    return None if uid == LOGIN_UID_UNSET else uid


def become_in_use():
    """True when the module runs as another user than the one who logged in, False when it runs as that user,
    None when it cannot tell."""
    if any(os.environ.get(name) for name in BECOME_TOOL_VARIABLES):
        return True
    logged_in_as = login_uid()
    if logged_in_as is None:
        return None
    return logged_in_as != os.geteuid()
