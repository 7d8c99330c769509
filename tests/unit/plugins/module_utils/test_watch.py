# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""inotify wakes a waiter within milliseconds of a rename; without it the interval is slept."""

from __future__ import annotations

import subprocess
import threading
import time

from ansible_collections.lockstep.handoff.plugins.module_utils._watch import DirectoryWatcher


def timed_wait(watcher, timeout):
    started = time.monotonic()
    watcher.wait(timeout)
    return time.monotonic() - started


def test_existing_directory_is_watched_with_inotify(tmp_path):
    with DirectoryWatcher([str(tmp_path)]) as watcher:
        assert watcher.method == 'inotify'


def test_rename_by_another_process_wakes_the_waiter_at_once(tmp_path):
    inbox, staging = tmp_path / 'inbox', tmp_path / 'staging'
    inbox.mkdir()
    staging.mkdir()
    (staging / 'x.done').write_bytes(b'')
    with DirectoryWatcher([str(inbox)]) as watcher:
        mover = subprocess.Popen(['sh', '-c', 'sleep 0.2; mv "$1" "$2"', 'sh',
                                  str(staging / 'x.done'), str(inbox / 'x.done')])
        try:
            elapsed = timed_wait(watcher, 5)
        finally:
            mover.wait(5)
        assert watcher.method == 'inotify'
    assert 0.1 <= elapsed < 1.0
    assert (inbox / 'x.done').exists()


def test_file_written_by_another_thread_wakes_the_waiter(tmp_path):
    with DirectoryWatcher([str(tmp_path)]) as watcher:
        writer = threading.Timer(0.2, (tmp_path / 'x').write_bytes, args=(b'data',))
        writer.start()
        elapsed = timed_wait(watcher, 5)
        writer.join()
    assert 0.1 <= elapsed < 1.0


def test_quiet_directory_waits_the_whole_timeout(tmp_path):
    with DirectoryWatcher([str(tmp_path)]) as watcher:
        assert 0.29 <= timed_wait(watcher, 0.3) < 1.0


def test_burst_of_events_is_drained_by_one_wait(tmp_path):
    with DirectoryWatcher([str(tmp_path)]) as watcher:
        for number in range(200):
            (tmp_path / ('f%d' % number)).write_bytes(b'x')
        assert timed_wait(watcher, 5) < 1.0
        assert timed_wait(watcher, 0.2) >= 0.19


def test_event_in_an_unwatched_directory_does_not_wake_the_waiter(tmp_path):
    watched, other = tmp_path / 'watched', tmp_path / 'other'
    watched.mkdir()
    other.mkdir()
    with DirectoryWatcher([str(watched)]) as watcher:
        writer = threading.Timer(0.05, (other / 'x').write_bytes, args=(b'data',))
        writer.start()
        elapsed = timed_wait(watcher, 0.3)
        writer.join()
    assert elapsed >= 0.29


def test_missing_directory_falls_back_to_polling(tmp_path):
    with DirectoryWatcher([str(tmp_path / 'missing')]) as watcher:
        assert watcher.method == 'poll'
        assert 0.19 <= timed_wait(watcher, 0.2) < 1.0


def test_one_missing_directory_of_two_means_polling(tmp_path):
    with DirectoryWatcher([str(tmp_path), str(tmp_path / 'missing')]) as watcher:
        assert watcher.method == 'poll'


def test_directory_created_later_is_watched_from_the_next_wait(tmp_path):
    later = tmp_path / 'later'
    with DirectoryWatcher([str(later)]) as watcher:
        later.mkdir()
        watcher.wait(0.01)
        assert watcher.method == 'inotify'


def test_a_regular_file_is_not_watched_as_a_directory(tmp_path):
    (tmp_path / 'file').write_bytes(b'')
    with DirectoryWatcher([str(tmp_path / 'file')]) as watcher:
        assert watcher.method == 'poll'


def test_closed_watcher_polls_and_closes_twice_without_error(tmp_path):
    watcher = DirectoryWatcher([str(tmp_path)])
    watcher.close()
    watcher.close()
    assert watcher.method == 'poll'
