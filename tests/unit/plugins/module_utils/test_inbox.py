"""What an inbox drain takes as data: matching regular files, never markers, locks, temps or hidden files."""

from __future__ import annotations

import os

from ansible_collections.lockstep.handoff.plugins.module_utils._inbox import inbox_files


def test_inbox_files_takes_only_matching_data_files(tmp_path):
    for name in ('a.csv', 'b.csv', 'c.txt', 'a.csv.done', 'a.csv.lock', '.a.csv.0123456789ab.tmp', '.hidden.csv'):
        (tmp_path / name).write_text('x')
    (tmp_path / 'dir.csv').mkdir()
    os.symlink(tmp_path / 'a.csv', tmp_path / 'link.csv')
    assert inbox_files(str(tmp_path), ['*.csv']) == ['a.csv', 'b.csv']
    assert inbox_files(str(tmp_path), ['*']) == ['a.csv', 'b.csv', 'c.txt']
    assert inbox_files(str(tmp_path), ['*.csv', 'c.*']) == ['a.csv', 'b.csv', 'c.txt']


def test_inbox_patterns_are_case_sensitive(tmp_path):
    (tmp_path / 'A.CSV').write_text('x')
    assert inbox_files(str(tmp_path), ['*.csv']) == []


def test_a_file_taken_by_another_consumer_after_the_listing_is_not_ours(tmp_path, monkeypatch):
    """Another drain moves b.csv away between our listdir and our look at it: the listing
    goes on without it (it used to fail the whole drain, saying the inbox did not exist)."""
    for name in ('a.csv', 'b.csv', 'c.csv'):
        (tmp_path / name).write_text('x')
    real_listdir = os.listdir

    def listdir_then_other_consumer_moves_b(path):
        names = real_listdir(path)
        os.rename(tmp_path / 'b.csv', tmp_path.parent / 'b.csv.elsewhere')
        return names

    monkeypatch.setattr(os, 'listdir', listdir_then_other_consumer_moves_b)
    assert inbox_files(str(tmp_path), ['*.csv']) == ['a.csv', 'c.csv']
