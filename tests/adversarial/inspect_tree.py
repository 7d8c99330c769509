# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a trial left, seen from inside a fleet host's mount namespace (run there as root; standard library only).

Prints one JSON object: the state of every canary in CANARY_DIR and, for
every entry below each ROOT, its kind, mode, owner, sha256 (regular files),
whether it holds the canaries' secret, and the JSON of small ``.done`` files.
"""

import hashlib
import json
import os
import stat
import sys


def describe(path, secret):
    st = os.lstat(path)
    entry = dict(kind='other', mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, size=st.st_size)
    if stat.S_ISLNK(st.st_mode):
        entry['kind'] = 'symlink'
    elif stat.S_ISFIFO(st.st_mode):
        entry['kind'] = 'fifo'
    elif stat.S_ISDIR(st.st_mode):
        entry['kind'] = 'directory'
    elif stat.S_ISREG(st.st_mode):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, 'rb') as handle:
            data = handle.read()
        entry.update(kind='file', sha256=hashlib.sha256(data).hexdigest(), secret=secret in data,
                     inode=[st.st_dev, st.st_ino])
        if path.endswith('.done') and len(data) < 65536:
            try:
                entry['json'] = json.loads(data.decode('utf-8'))
            except ValueError:
                entry['json'] = None
    return entry


def main(canary_dir, secret, *roots):
    secret = secret.encode()
    report = dict(canaries={}, entries={})
    for name in sorted(os.listdir(canary_dir)):
        path = os.path.join(canary_dir, name)
        report['canaries'][name] = describe(path, secret)
        if report['canaries'][name]['kind'] == 'file':
            with open(path, 'rb') as handle:
                report['canaries'][name]['bytes'] = handle.read().decode('utf-8', 'replace')
    for root in roots:
        for directory, subdirectories, names in os.walk(root):
            for name in subdirectories + names:
                path = os.path.join(directory, name)
                report['entries'][path] = describe(path, secret)
    json.dump(report, sys.stdout)


if __name__ == '__main__':
    main(*sys.argv[1:])
