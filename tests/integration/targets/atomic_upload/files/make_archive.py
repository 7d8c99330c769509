# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a hostile tar for the publish phase: make_archive.py PATH KIND (symlink | escape)."""

import io
import sys
import tarfile

path, kind = sys.argv[1], sys.argv[2]
with tarfile.open(path, 'w') as tar:
    if kind == 'symlink':
        info = tarfile.TarInfo('a.txt')
        info.type = tarfile.SYMTYPE
        info.linkname = '/etc/passwd'
        tar.addfile(info)
    else:
        info = tarfile.TarInfo('../escape.txt')
        info.size = 6
        tar.addfile(info, io.BytesIO(b'owned\n'))
