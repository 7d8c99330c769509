# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection variants side by side in one ansible-playbook run: one inventory alias per host and variant.

A test that must hold over every way a user reaches a host (OpenSSH with pipelining on and off,
each with and without become) runs once against aliases of the same hosts instead of once per
variant. Each alias works in a directory of its own, named after it.
"""

from __future__ import annotations

from pathlib import Path

from .harness import BECOME_USER, LOGIN_USER

BECOME = f"ansible_become=true ansible_become_user={BECOME_USER}"
# variant -> (inventory variables, the user that must own what the modules wrote)
SSH_VARIANTS = {
    "ssh-pipelining": ("ansible_connection=ssh ansible_pipelining=true", LOGIN_USER),
    "ssh": ("ansible_connection=ssh ansible_pipelining=false", LOGIN_USER),
    "ssh-pipelining-become": (f"ansible_connection=ssh ansible_pipelining=true {BECOME}", BECOME_USER),
    "ssh-become": (f"ansible_connection=ssh ansible_pipelining=false {BECOME}", BECOME_USER),
}


def alias(host, variant):
    """The inventory name of ``host`` reached through ``variant``."""
    return f"{host}-{variant}"


def variants_inventory(fleet, directory, group, hosts, variants):
    """One alias of each of ``hosts`` per variant in ``group``; given after the fleet's own inventory,
    whose ``[all:vars]`` (user, key, ssh options) then apply to the aliases too."""
    lines = [f"[{group}]"]
    lines += [f"{alias(name, variant)} ansible_host={fleet.hosts[name].address} {settings}"
              for name in hosts for variant, (settings, _owner) in variants.items()]
    path = Path(directory) / "variants.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_alias_dirs(hosts, root, variants):
    """On each of ``hosts`` (Host objects), ``root/<alias>`` for every variant, group-writable for become."""
    for host in hosts:
        host.run(" && ".join(f"mkdir -m 2775 {root}/{alias(host.name, variant)}" for variant in variants))


def run_variants(ansible_playbook, playbook, fleet, directory, group, hosts, variants, **kwargs):
    """Run ``playbook`` once against every alias, all in parallel (one fork per alias)."""
    inventory = variants_inventory(fleet, directory, group, hosts, variants)
    return ansible_playbook(playbook, "-i", str(inventory), "--forks", str(len(hosts) * len(variants)), **kwargs)
