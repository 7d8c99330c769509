# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of where markers and locks go when no path is given for them."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  state_dir:
    description:
      - Where the markers and locks of the data files go when no path is given for them - the same rule as the
        roles' C(handoff_*_state_dir) variables and C(HANDOFF_STATE_DIR) of C(handoff.sh), so all of them find
        each other's markers and share their locks.
      - Not set or V("") (the default) - beside each data file, C(NAME.done) and C(NAME.lock), which is what the
        seeds' shell scripts write and read.
      - A relative path such as V(.handoff) - that subdirectory of each data file's own directory, so
        C(/etc/nginx/conf.d/site.conf) has its marker at C(/etc/nginx/conf.d/.handoff/site.conf.done), out of reach
        of globs such as nginx C(include conf.d/*), C(run-parts) or C(/etc/cron.d) (which skip dot names).
      - An absolute path - that one directory, for the files of every directory (C(STATE_DIR/NAME.done)). Files of
        one name in different directories then share one marker and one lock, and each publish replaces the other
        file's marker; give such files distinct names or a relative O(state_dir) (the C(lockstep.handoff.deliver)
        role refuses a list of files that would share a marker).
      - For a directory published as one set, the set's directory is the data file (C(STATE_DIR/DIR.done)).
      - The directory must exist (roles create it). An explicit marker or lock path option wins over it.
    type: path
'''
