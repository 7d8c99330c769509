# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start or stop a fleet by hand, for benchmarks and humans.

    python -m tests.fleet up --hosts 3 [--tiny h2] [--readonly h3] [--workdir DIR]
    python -m tests.fleet down --workdir DIR

``up`` prints the inventory path, then keeps the fleet up until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys

from .harness import DEFAULT_DISK_SIZE, TINY_DISK_SIZE, Fleet, FleetError, HostSpec


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run ``up`` or ``down``; errors become one line and rc 1."""
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True, metavar="{up,down}")
    up = commands.add_parser("up", help="start hosts h1..hN and keep them up until Ctrl-C")
    up.add_argument("--hosts", type=int, default=3, metavar="N")
    up.add_argument("--tiny", action="append", default=[], metavar="NAME",
                    help=f"give host NAME a {TINY_DISK_SIZE} disk (ENOSPC); repeatable")
    up.add_argument("--readonly", action="append", default=[], metavar="NAME",
                    help="mount /srv/handoff read-only on host NAME; repeatable")
    up.add_argument("--workdir", help="absent or empty dir for keys, configs, inventory")
    up.add_argument("--subnet", help="use SUBNET.1..N (default: first free 127.0.77+)")
    up.set_defaults(command=_up)
    down = commands.add_parser("down", help="stop a fleet started with `up --workdir DIR`")
    down.add_argument("--workdir", required=True)
    down.set_defaults(command=_down)
    return parser


def _up(args: argparse.Namespace) -> int:
    """Start the fleet, print the inventory, then sleep until a signal asks to stop."""
    names = [f"h{i}" for i in range(1, args.hosts + 1)]
    unknown = sorted(set(args.tiny + args.readonly) - set(names))
    if unknown:
        raise FleetError(f"--tiny/--readonly name unknown hosts {unknown}; hosts are {names}")
    specs = [HostSpec(name, disk_size=TINY_DISK_SIZE if name in args.tiny else DEFAULT_DISK_SIZE,
                      readonly=name in args.readonly) for name in names]
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, signal.default_int_handler)
    with Fleet.start(specs, workdir=args.workdir, subnet=args.subnet) as fleet:
        print(fleet.inventory, flush=True)
        for host in fleet.hosts.values():
            print(f"{host.name} {host.address} sshd pid {host.pid}", file=sys.stderr)
        print(f"up; Ctrl-C or `python -m tests.fleet down --workdir {fleet.workdir}` stops it",
              file=sys.stderr, flush=True)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


def _down(args: argparse.Namespace) -> int:
    """Stop a fleet recorded in ``--workdir`` (its ``up`` process stops it, or we do)."""
    Fleet.stop_recorded(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
