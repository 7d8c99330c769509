# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of how consumers judge a done marker."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  marker_path:
    description:
      - The done marker that says the data file is complete.
      - Defaults to the data file's path with C(.done) appended, which is what the seeds' shell scripts
        (C(touch NAME.done)) and M(lockstep.handoff.atomic_upload) write; with O(state_dir), C(NAME.done) in
        that directory.
      - Relocate it (for example into a C(.handoff/) subdirectory, most simply with O(state_dir)) when the data
        directory is read by a glob such as nginx C(include conf.d/*), C(run-parts) or C(/etc/cron.d).
      - For a directory published as one set, its manifest marker (default C(DIR.done), beside the directory).
    type: path
  verify_checksum:
    description:
      - When the marker records a sha256, hash the data file and accept it only when they agree.
      - A marker without a checksum (an empty legacy marker) is accepted unless O(require_checksum) is set.
      - With a manifest marker, every file it lists is hashed and compared with its entry.
    type: bool
    default: true
  require_checksum:
    description:
      - Refuse markers that carry no sha256, such as an empty file from C(touch NAME.done).
    type: bool
    default: false
'''
