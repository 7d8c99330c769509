# -*- coding: utf-8 -*-
# Copyright: lockstep.handoff contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every lock kind provides, so that a backend holds a lock without knowing which kind it is.

A kind (``LockKind``) reads its settings from a task's options and takes a
lock; the lock it returns (``HeldLock``) is confirmed before a publish and
after unfenced work, then released. Only ``_lock/kinds.py`` names the kinds.
"""

from __future__ import annotations

import abc

from ansible_collections.lockstep.handoff.plugins.module_utils._errors import HandoffError


class LockTimeout(HandoffError):
    """The lock stayed held by someone else for the whole ``lock_timeout``."""


class LeaseLost(HandoffError):
    """This holder lost its lock while holding it (a lease expired or was taken over): what it would write now is stale."""


class HeldLock(abc.ABC):
    """A lock this process holds, until ``release()`` (or the end of a ``with`` block).

    ``path`` is what the lock is called, ``waited`` the seconds it took to get,
    ``fencing_token`` a number greater than that of every earlier holder, or
    None for a kind that has none.
    """

    path = None
    waited = 0.0
    fencing_token = None

    @abc.abstractmethod
    def confirm_before_publish(self, target):
        """Right before replacing ``target``: raise LeaseLost unless this holder may still write it."""

    @abc.abstractmethod
    def confirm_held(self, what, details):
        """After work that could not be fenced (``what`` produced ``details``): raise LeaseLost if the lock was lost."""

    @abc.abstractmethod
    def release(self):
        """Give the lock up (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()


class LockKind(abc.ABC):
    """One value of ``lock_type``: how its locks are named, configured and taken."""

    is_file_backed = True
    """Whether ``lock_path`` is a file this kind creates and opens (else it is only a name)."""

    @abc.abstractmethod
    def settings(self, module):
        """The keyword arguments ``acquire`` needs besides the timeout, from ``module``'s lock options."""

    @abc.abstractmethod
    def acquire(self, path, timeout, shared=False, holder=None, **settings):
        """Take the lock ``path`` within ``timeout`` seconds (0: one attempt); return a HeldLock.

        An exclusive holder named by ``holder`` says who holds it where the
        kind can record it. Raises LockTimeout naming the holder when it stays busy.
        """
