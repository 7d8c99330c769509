# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs inside a bench host (stdin of ``python3 -``): create hand-offs that are ready to take.

    python3 - DIR COUNT MARKER_SUFFIX

Writes DIR/f1..fCOUNT (2 KB each) and beside each a protocol v1 marker at the
data path plus MARKER_SUFFIX. With ``.done`` the hand-offs are published; with
another suffix the marker waits under a temp name for the bench to rename it.
"""

import datetime
import hashlib
import json
import os
import sys

PROTOCOL = "lockstep.handoff/1"
SIZE = 2048


def marker_bytes(data):
    """A complete marker describing ``data``, as atomic_upload writes it."""
    return json.dumps({
        "protocol": PROTOCOL, "state": "complete", "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "generation": 1,
        "written_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "producer": "lockstep.handoff bench",
    }, sort_keys=True).encode() + b"\n"


def main(directory, count, suffix):
    """Create the data files and their markers."""
    os.makedirs(directory, exist_ok=True)
    for number in range(1, count + 1):
        path = os.path.join(directory, f"f{number}")
        data = os.urandom(SIZE)
        with open(path, "wb") as handle:
            handle.write(data)
        with open(path + suffix, "wb") as handle:
            handle.write(marker_bytes(data))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
