# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""meta/runtime.yml's action groups: a group default must be an option every member takes, with one meaning.

Each member's documented options (with their doc fragments) are read the way ansible-doc reads them; a group
promises the options of its doc fragments, so each member must extend those fragments and accept each option.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.plugin_docs import read_docstring
from ansible.plugins.loader import fragment_loader, module_loader
from ansible.utils.plugin_docs import get_docstring

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = ('atomic_upload', 'wait_for_marker', 'locked_move', 'locked_command', 'lock_info')
# group -> the doc fragments whose options a default for that group may set
GROUP_FRAGMENTS = {
    'handoff': ('lockstep.handoff.redis',),
    'locking': ('lockstep.handoff.lock', 'lockstep.handoff.redis'),
}


def action_groups():
    return yaml.safe_load((REPO_ROOT / 'meta' / 'runtime.yml').read_text())['action_groups']


def documentation(module):
    """The module's documentation as ansible-doc shows it (fragments merged)."""
    path = module_loader.find_plugin('lockstep.handoff.' + module)
    return get_docstring(path, fragment_loader, collection_name='lockstep.handoff')[0]


def fragments_of(module):
    """The doc fragments the module's own DOCUMENTATION extends."""
    path = module_loader.find_plugin('lockstep.handoff.' + module)
    return set(read_docstring(path)['doc']['extends_documentation_fragment'])


def fragment_options(fragment):
    return set(yaml.safe_load(fragment_loader.get(fragment).DOCUMENTATION)['options'])


def test_the_groups_are_the_documented_ones():
    assert sorted(action_groups()) == sorted(GROUP_FRAGMENTS)


@pytest.mark.parametrize('group', sorted(GROUP_FRAGMENTS))
def test_every_member_takes_every_option_of_its_group_from_the_same_fragment(group):
    options = set().union(*(fragment_options(fragment) for fragment in GROUP_FRAGMENTS[group]))
    assert {'redis_host', 'redis_password'} <= options
    for module in action_groups()[group]:
        assert set(GROUP_FRAGMENTS[group]) <= fragments_of(module), module
        documented = set(documentation(module)['options'])
        assert options <= documented, '%s lacks %s' % (module, sorted(options - documented))


def test_a_module_outside_a_group_lacks_one_of_its_options():
    for group, members in action_groups().items():
        options = set().union(*(fragment_options(fragment) for fragment in GROUP_FRAGMENTS[group]))
        for module in set(MODULES) - set(members):
            assert not options <= set(documentation(module)['options']), '%s could be in %s' % (module, group)
