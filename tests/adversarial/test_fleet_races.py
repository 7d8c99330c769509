# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The raced write paths end to end over real ssh, with and without become, the attacker inside the host.

One host of the fleet harness; per path one playbook run loops over the
trials on two aliases of it (plain ssh as ``handoff``, and become to
``handoff2``) while the racer runs as the attacker inside the host's mount
namespace for the whole run. Each alias works in its own directory of a
shared inbox (owner: the alias's user, group: the attacker's, 2775), and each
trial has its own canary: a 0600 file of the user the task runs as, outside
the inbox.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.fleet.harness import DATA_DIR, Fleet, HostSpec, run_playbook, unavailable_reason
from tests.fleet.variants import SSH_VARIANTS, alias, variants_inventory
from tests.support.fleet_runs import ResultLog

from .attacker import GROUP, RacerProcess, copy_racer, ensure_attacker
from .fleet_paths import FLEET_PATHS, HUNG, SET_FILES, playbook
from .ledger import PathLedger
from .paths import payload_of, sha256_hex, write_source_with_marker
from .targets import HANDOFF_SH, Run

pytestmark = pytest.mark.fleet

TRIALS = int(os.environ.get('ADVERSARIAL_FLEET_TRIALS', '10'))
HOST = 'adv1'
VARIANTS = {variant: SSH_VARIANTS[variant] for variant in ('ssh', 'ssh-become')}
INSPECT = Path(__file__).with_name('inspect_tree.py')


@pytest.fixture(scope='module')
def adversarial_fleet():
    """One fleet host of its own, and the attacker account (users are machine-wide, so it exists inside too)."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get('CI') == 'true':
            pytest.fail('%s (CI=true: fleet tests must run, not skip)' % reason, pytrace=False)
        pytest.skip(reason)
    ensure_attacker()
    with Fleet.start([HostSpec(HOST)]) as fleet:
        yield fleet


class Scene:
    """The controller's sources, the host's inbox, canaries and cross-device sources of one path."""

    def __init__(self, fleet, path):
        self.fleet = fleet
        self.host = fleet.hosts[HOST]
        self.path = path
        self.work = Path(tempfile.mkdtemp(prefix='lockstep-adversarial-fleet-'))
        os.chmod(self.work, 0o755)
        self.base = '%s/adversarial-%s' % (DATA_DIR, path)
        self.inbox = self.base + '/inbox'
        self.canaries = self.base + '/canaries'
        self.secret = 'CANARY-%s' % secrets.token_hex(16)
        self.aliases = {alias(HOST, variant): pwd.getpwnam(owner) for variant, (dummy, owner) in VARIANTS.items()}
        self.trials = ['t%03d' % number for number in range(TRIALS)]

    def prepare(self):
        """Everything before the racer starts, so that only the tasks' own names are raced."""
        shutil.copy(str(HANDOFF_SH), str(self.work / 'handoff.sh'))
        shutil.copy(str(INSPECT), str(self.work / 'inspect_tree.py'))
        for name in ('handoff.sh', 'inspect_tree.py'):
            os.chmod(self.work / name, 0o644)
        self.racer_path = copy_racer(self.work)
        for directory in ('payloads', 'tree/sub', 'xsrc'):
            (self.work / directory).mkdir(parents=True)
        for trial in self.trials:
            (self.work / 'payloads' / trial).write_bytes(payload_of(trial))
            os.chmod(self.work / 'payloads' / trial, 0o644)
        for relative in SET_FILES:
            (self.work / 'tree' / relative).write_bytes(payload_of(relative))
        for directory, dummy, names in os.walk(self.work):
            os.chmod(directory, 0o755)
        commands = ['mkdir -m 0755 %s %s' % (self.base, self.canaries),
                    'mkdir -m 2775 %s' % self.inbox, 'chgrp %s %s' % (GROUP, self.inbox)]
        for name, account in self.aliases.items():
            for trial in self.trials:
                here = '%s/%s/%s' % (self.inbox, name, trial)
                for directory in (here, here + '/out', here + '/set', here + '/set/sub'):
                    commands.append('mkdir -p -m 2775 %s && chown %d:%s %s' % (directory, account.pw_uid, GROUP, directory))
                canary = '%s/%s-%s' % (self.canaries, name, trial)
                commands.append("printf '%%s\\n' 'secret of %s %s' > %s && chown %d:%d %s && chmod 0600 %s"
                                % (account.pw_name, self.secret, canary, account.pw_uid, account.pw_gid, canary, canary))
        commands.append('chmod 2775 $(find %s -type d)' % self.inbox)
        self.host.run(' && '.join(commands), user='root')
        for name, account in self.aliases.items():
            for trial in self.trials:
                self._producer_files(name, account, trial)

    def _producer_files(self, name, account, trial):
        """The finished file (and marker) a move takes: across filesystems below ``work``, else in the inbox."""
        if self.path in ('move_cross_device', 'handoff_move'):
            directory = self.work / 'xsrc' / name / trial
            directory.mkdir(parents=True)
            write_source_with_marker(directory / 'data.bin', payload_of(trial), 0o644)
            os.chmod(directory / 'data.bin', 0o4777)
            for path in (directory, directory / 'data.bin', directory / 'data.bin.done'):
                os.chown(path, account.pw_uid, account.pw_gid)
            os.chown(directory.parent, account.pw_uid, account.pw_gid)
        elif self.path == 'move_marker':
            staging = self.work / ('staging-%s-%s' % (name, trial))
            write_source_with_marker(staging, payload_of(trial))
            here = '%s/%s/%s' % (self.inbox, name, trial)
            self.host.run('install -o %d -g %s -m 0644 %s %s/data.bin && install -o %d -g %s -m 0644 %s.done '
                          '%s/data.bin.done' % (account.pw_uid, GROUP, staging, here, account.pw_uid, GROUP, staging,
                                                here), user='root')

    def racer(self):
        arguments = ['--root', self.inbox, '--canary-dir', self.canaries, '--canary-depth', '2', '--mode', 'cycle']
        for spec in FLEET_PATHS[self.path][0]:
            arguments += ['--on', spec]
        return RacerProcess.in_namespace(self.host.pid, self.racer_path, arguments)

    def inspect(self):
        done = self.host.run('python3 %s/inspect_tree.py %s %s %s' % (self.work, self.canaries, self.secret, self.inbox),
                             user='root')
        return json.loads(done.stdout)

    def remove(self):
        self.host.run('rm -rf %s' % self.base, user='root', check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def judge(scene, report, name, account, trial, record, attacker_uid):
    """``(Run, compromises)`` of one trial of one alias."""
    result = record['result'] if record else dict(failed=True, msg='no result recorded')
    hung = any(text in (result.get('msg') or '') for text in HUNG)
    # handoff.sh (through ansible.builtin.command) says why on stderr; "non-zero return code" alone says nothing.
    says = result.get('stderr', '').strip() if 'rc' in result and not hung else result.get('msg') or ''
    run = Run(dict(result, failed=record is None or record['status'] != 'ok' or bool(result.get('failed')), msg=says),
              hung, '')
    here = '%s/%s/%s' % (scene.inbox, name, trial)
    entries = {path[len(here) + 1:]: entry for path, entry in report['entries'].items() if path.startswith(here + '/')}
    canary = report['canaries'].get('%s-%s' % (name, trial), {})
    compromises = []
    if (canary.get('kind'), canary.get('mode'), canary.get('uid')) != ('file', 0o600, account.pw_uid) \
            or scene.secret not in canary.get('bytes', ''):
        compromises.append('canary_changed')
    if scene.secret in json.dumps(result):
        compromises.append('canary_leaked:task_output')
    for relative, entry in entries.items():
        if entry.get('secret') and entry.get('inode') != canary.get('inode'):
            compromises.append('canary_leaked:%s' % relative)
        data = entries.get(relative[:-len('.done')]) if relative.endswith('.done') else None
        if data and data['kind'] == 'file' and entry['kind'] == 'file' and entry['mode'] & ~data['mode'] & 0o777:
            compromises.append('marker_wider:%s' % relative)
    if hung:
        compromises.append('hang')
    elif not run.failed:
        compromises += wrong_success(scene.path, entries, trial, attacker_uid)
    return run, compromises


def wrong_success(path, entries, trial, attacker_uid):
    dummy, dummy, published, marked = FLEET_PATHS[path]
    if published:
        expected = {published: payload_of(trial)}
    else:
        # A list src puts each file at its base name below dest (documented); a directory src keeps the tree.
        place = os.path.basename if path == 'upload_list_set' else (lambda relative: relative)
        expected = {'set/' + place(relative): payload_of(relative) for relative in SET_FILES}
    wrong = []
    for relative, data in expected.items():
        entry = entries.get(relative, {})
        if entry.get('kind') != 'file':
            wrong.append('wrong_result:%s_is_%s' % (relative, entry.get('kind', 'missing')))
        elif entry['uid'] == attacker_uid:
            wrong.append('foreign_file_published:%s' % relative)
        elif entry['sha256'] != sha256_hex(data):
            wrong.append('wrong_result:%s_other_bytes' % relative)
    if marked:
        marker = entries.get(published + '.done', {})
        doc = marker.get('json') if marker.get('kind') == 'file' else None
        if not isinstance(doc, dict) or doc.get('state') != 'complete' or doc.get('sha256') != sha256_hex(payload_of(trial)):
            wrong.append('marker_not_describing_data')
    return wrong


@pytest.mark.parametrize('path', sorted(FLEET_PATHS))
def test_attacker_in_the_host_can_at_most_make_the_task_fail(adversarial_fleet, tmp_path, path):
    attacker_uid = pwd.getpwnam('lsattacker').pw_uid
    scene = Scene(adversarial_fleet, path)
    ledgers = {name: PathLedger(path, 'fleet-' + variant) for name, variant in
               ((alias(HOST, variant), variant) for variant in VARIANTS)}
    racer = None
    try:
        scene.prepare()
        racer = scene.racer()
        inventory = variants_inventory(adversarial_fleet, tmp_path, 'adversarial', [HOST], VARIANTS)
        log = ResultLog(tmp_path / 'results.jsonl')
        run = run_playbook(adversarial_fleet, playbook(path), '-i', str(inventory), '--forks', str(len(VARIANTS)),
                           extra_vars=dict(work=str(scene.work), inbox=scene.inbox, trials=TRIALS), env=log.env())
        racer_summary = racer.stop()
        racer = None
        report = scene.inspect()
        for name, account in scene.aliases.items():
            ledger = ledgers[name]
            ledger.racer = racer_summary
            records = {record['result'].get('item'): record for record in log.results('Trial', name, items=True)}
            for number, trial in enumerate(scene.trials):
                trial_run, compromises = judge(scene, report, name, account, trial, records.get(number), attacker_uid)
                ledger.record('%s/%s' % (name, trial), trial_run, compromises)
    finally:
        if racer is not None:
            racer.stop()
        scene.remove()
    for ledger in ledgers.values():
        ledger.save()
    for ledger in ledgers.values():
        assert ledger.trials == TRIALS, run.stdout[-3000:] + run.stderr[-2000:]
    problems = [ledger.problems() for ledger in ledgers.values() if ledger.problems()]
    assert not problems, '\n'.join(problems)
