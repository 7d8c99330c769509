# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Extract the collections the bench's peers need from a downloaded ``ansible`` wheel.

    python bench/install_collections.py WHEEL DEST

Only ``ansible_collections/ansible/posix`` (synchronize) is taken: installing
the whole package would drag in a second ansible-core pin and hundreds of
collections nobody here uses.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

WANTED = "ansible_collections/ansible/posix/"


def extract(wheel: Path, dest: Path) -> int:
    """Write the wanted members of ``wheel`` below ``dest``; return how many there were."""
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith(WANTED)]
        archive.extractall(dest, members)
    return len(members)


if __name__ == "__main__":
    count = extract(Path(sys.argv[1]), Path(sys.argv[2]))
    if not count:
        sys.exit(f"{sys.argv[1]} holds no {WANTED}")
