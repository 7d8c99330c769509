# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only module: what the interpreter running it holds, for checks under Mitogen.

Mitogen runs modules inside one Python interpreter per host that outlives the
task; whatever a module leaves open or installed there, the next task finds.
This module reports that state: the process, its open descriptors (with their
targets), the threads, the signal handlers and the garbage collector's frozen
object count.
"""

from __future__ import annotations

import gc
import os
import signal
import threading

from ansible.module_utils.basic import AnsibleModule

SIGNALS = ('SIGALRM', 'SIGCHLD', 'SIGHUP', 'SIGINT', 'SIGPIPE', 'SIGTERM', 'SIGUSR1', 'SIGUSR2')


def _descriptors():
    found = {}
    for name in os.listdir('/proc/self/fd'):
        try:
            found[name] = os.readlink('/proc/self/fd/%s' % name)
        except OSError:
            continue
    return found


def _handler_name(handler):
    if handler in (signal.SIG_DFL, signal.SIG_IGN, None):
        return str(handler)
    return '%s.%s' % (getattr(handler, '__module__', '?'), getattr(handler, '__qualname__', repr(handler)))


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.exit_json(
        changed=False, pid=os.getpid(), ppid=os.getppid(), descriptors=_descriptors(),
        threads=sorted(thread.name for thread in threading.enumerate()),
        signals={name: _handler_name(signal.getsignal(getattr(signal, name))) for name in SIGNALS},
        gc_frozen=gc.get_freeze_count())


if __name__ == '__main__':
    main()
