# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the Redis fleet tests: ad-hoc runs in the background, their results, waiting for a condition."""

from __future__ import annotations

import json
import re
import subprocess
import time

from tests.support.ansible_run import ansible_env, bin_path


def adhoc_results(stdout):
    """``h1 | FAILED! => {...}`` blocks of an ad-hoc run as {host: result dict}."""
    decoder = json.JSONDecoder()
    results = {}
    for match in re.finditer(r'^(\S+) \| \w+!? => ', stdout, re.M):
        results[match.group(1)] = decoder.raw_decode(stdout, match.end())[0]
    return results


def redis_args(redis_server, **args):
    """Module arguments (JSON for ``-a``) that reach the test's redis-server."""
    args.update(redis_host='127.0.0.1', redis_port=redis_server.port, redis_password=redis_server.password)
    return json.dumps(args)


def wait_until(condition, what, timeout=30.0):
    """Poll ``condition`` until it returns something true, and return that; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, 'gave up waiting for %s' % what
        time.sleep(0.02)


def start_adhoc(fleet, host, module, args):
    """An ad-hoc run in the background (a holder to kill or stall); output in ``.communicate()``."""
    return subprocess.Popen([bin_path('ansible'), '-i', str(fleet.inventory), host, '-m', module, '-a', args],
                            env=ansible_env(fleet.ansible_env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stopped(pid):
    """Whether ``pid`` is stopped (SIGSTOP): state T in /proc/PID/stat."""
    with open('/proc/%d/stat' % pid) as handle:
        return handle.read().rsplit(')', 1)[1].split()[0] == 'T'
