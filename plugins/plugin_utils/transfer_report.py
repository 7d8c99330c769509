# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an ``atomic_upload`` task cost, for its result and for ``-v``.

A slow upload is explainable only with its parts: how long each phase took
(hashing on the controller, the probe and publish module runs, sending the
bytes), how many bytes went and how fast, which way they went (straight into
the temp beside dest, staged through the remote temp directory, or inline:
inside the one module run of a small list) and whether ssh compressed them.
"""

from __future__ import annotations

import contextlib
import time

MIB = 1024 * 1024
UNITS = ('B', 'KiB', 'MiB', 'GiB', 'TiB')
# What a task that sent nothing did instead, by the result's ``action``.
NOTHING_SENT = {
    'none': 'nothing sent: dest already holds the data',
    'attributes': 'nothing sent: the data was in place, only attributes changed',
    'marker': 'nothing sent: the data was in place, only the marker was written',
    'transfer': 'check mode: nothing sent',
}


class TransferReport:
    """Phase timings and bytes of one task; ``add_to`` puts them into its result."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._started = clock()
        self.phases = {}
        self.bytes_sent = 0
        self.ssh_compression = False
        self.path = None

    @contextlib.contextmanager
    def phase(self, name):
        """Add the time the block takes to phase ``name`` (a phase run twice, as a second probe, adds up)."""
        started = self._clock()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + self._clock() - started

    def timed(self, name, function):
        """``function``, counting its run time as phase ``name`` (for work handed to a thread)."""
        def run(*args, **kwargs):
            with self.phase(name):
                return function(*args, **kwargs)
        return run

    def sent(self, size, compressed, path):
        """Record one transfer of ``size`` bytes, through ssh compression or not, ``direct``, ``staged`` or ``inline``.

        Recorded here, not taken from the module's result: a publish that fails
        after the bytes went returns no ``transfer_path``, yet they went one way.
        """
        self.bytes_sent += size
        self.ssh_compression = self.ssh_compression or compressed
        self.path = path

    def summary(self):
        """The ``transfer`` entry of a result."""
        send_seconds = self.phases.get('send', 0.0)
        return dict(
            elapsed=round(self._clock() - self._started, 3),
            phases={name: round(seconds, 3) for name, seconds in sorted(self.phases.items())},
            bytes_sent=self.bytes_sent,
            throughput_mib_s=round(self.bytes_sent / MIB / send_seconds, 1) if self.bytes_sent and send_seconds > 0 else None,
            path=self.path if self.bytes_sent else None,
            ssh_compression=self.ssh_compression if self.bytes_sent else None,
        )

    def add_to(self, result):
        """``result`` with its ``transfer`` entry, and a one-line ``msg`` unless it already says something."""
        transfer = self.summary()
        result['transfer'] = transfer
        if 'msg' not in result:
            result['msg'] = describe(transfer, result.get('action'))
        return result


def describe(transfer, action):
    """One line: ``sent 1.0 GiB in 9.4 s (109 MiB/s), direct, ssh compression off; 10.2 s in all``."""
    if transfer['bytes_sent'] and transfer['path'] == 'inline' and action != 'transfer':
        # A small set or list travels whole inside its one module run, whether or not a file turns out to have changed.
        line = '%s (the files\' %s went inside the module run, inline)' % (
            NOTHING_SENT.get(action, 'nothing sent').replace('nothing sent', 'nothing published', 1),
            human_size(transfer['bytes_sent']))
    elif transfer['bytes_sent'] and transfer['path'] == 'inline':
        line = 'sent %s inside the module run (inline), ssh compression %s' % (
            human_size(transfer['bytes_sent']), 'on' if transfer['ssh_compression'] else 'off')
    elif transfer['bytes_sent']:
        send_seconds = transfer['phases'].get('send', 0.0)
        throughput = transfer['throughput_mib_s']
        line = 'sent %s in %.1f s (%s MiB/s), %s, ssh compression %s' % (
            human_size(transfer['bytes_sent']), send_seconds,
            '?' if throughput is None else '%.0f' % throughput if throughput >= 10 else '%.1f' % throughput,
            transfer['path'], 'on' if transfer['ssh_compression'] else 'off')
    else:
        line = NOTHING_SENT.get(action, 'nothing sent')
    return '%s; %.1f s in all' % (line, transfer['elapsed'])


def human_size(size):
    """``size`` bytes as ``512 B``, ``1.0 GiB``."""
    if size < 1024:
        return '%d B' % size
    value = float(size)
    for unit in UNITS[1:-1]:
        value /= 1024
        if value < 1024:
            return '%.1f %s' % (value, unit)
    return '%.1f %s' % (value / 1024, UNITS[-1])
