# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs inside a bench host (stdin of ``python3 -``): publish markers while a module waits for them.

    python3 - DIR TRIALS MODULE_SCRIPT MAX_DELAY SEED

For trial k the controller runs a module (``MODULE_SCRIPT``, e.g.
``AnsiballZ_wait_for.py``) that waits for DIR/fk.done. This driver finds that
module's process in this host's mount namespace, waits until it sleeps in its
wait loop (``select``/``poll`` or ``nanosleep``), lets a random 0..MAX_DELAY s
pass (so a polling waiter is caught at any phase of its interval), renames
DIR/fk.done.tmp onto DIR/fk.done, then polls the process every millisecond
and notes when it left its wait (``woke``), when it wrote its result to stdout
(``result``: its ``wchar`` in /proc/PID/io grew) and when it ended (``done``).

Every instant comes from this host's clock, so the latencies exclude ansible's
controller and ssh overhead. Prints one JSON list: per trial the three
latencies after the rename, in seconds.
"""

import json
import os
import random
import sys
import time

POLL = 0.001
APPEAR_TIMEOUT = 120.0
WAIT_STATES = ("hrtimer_nanosleep", "do_nanosleep", "poll_schedule_timeout", "do_select", "do_sys_poll")


def module_process(script, mount_ns, seen):
    """The pid of a new python process running ``script`` in our mount namespace, or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in seen:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            same_host = os.readlink(f"/proc/{entry}/ns/mnt") == mount_ns
        except OSError:
            continue
        if same_host and len(argv) > 1 and b"python" in argv[0] and argv[1].endswith(b"/" + script.encode()):
            return int(entry)
    return None


def state(pid):
    """``(alive, waiting)`` of ``pid``: a zombie has ended; waiting = asleep in a timed wait."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False, False
        with open(f"/proc/{pid}/wchan", encoding="ascii") as handle:
            wchan = handle.read()
    except OSError:
        return False, False
    return True, wchan.startswith(WAIT_STATES)


def written(pid):
    """Bytes ``pid`` has written so far (``wchar``), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def follow(pid, baseline, since):
    """Poll ``pid`` until it ends; return its woke/result/done instants relative to ``since``."""
    marks = {}
    deadline = since + APPEAR_TIMEOUT
    while "done" not in marks:
        now = time.time()
        alive, waiting = state(pid)
        if not waiting:
            marks.setdefault("woke", now - since)
        if not alive:
            marks["done"] = now - since
        elif (written(pid) or baseline) > baseline:
            marks.setdefault("result", now - since)
        if now > deadline:
            raise SystemExit(f"latency driver: pid {pid} did not finish")
        time.sleep(POLL)
    marks.setdefault("result", marks["done"])
    return marks


def poll_until(condition, timeout, what):
    """Poll ``condition`` every millisecond; return its first true value."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            raise SystemExit(f"latency driver: timed out waiting for {what}")
        time.sleep(POLL)


def trial(directory, number, script, max_delay, seen):
    """One publish: find the waiter, let it wait, rename the marker, follow it to its end."""
    mount_ns = os.readlink("/proc/self/ns/mnt")
    pid = poll_until(lambda: module_process(script, mount_ns, seen), APPEAR_TIMEOUT, f"{script} to start")
    seen.add(pid)
    poll_until(lambda: state(pid)[1], APPEAR_TIMEOUT, f"pid {pid} to wait")
    time.sleep(random.uniform(0.0, max_delay))
    if not state(pid)[1]:
        raise SystemExit(f"latency driver: pid {pid} stopped waiting before the marker was published")
    marker = os.path.join(directory, f"f{number}.done")
    baseline = written(pid)
    renamed_at = time.time()
    os.rename(marker + ".tmp", marker)
    return follow(pid, baseline, renamed_at)


def main(directory, trials, script, max_delay, seed):
    """Run every trial in order and print the latencies."""
    random.seed(seed)
    seen = set()
    print(json.dumps([trial(directory, number, script, max_delay, seen) for number in range(1, trials + 1)]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
