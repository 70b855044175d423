"""Signals announcements send (the receiver that takes a deleted live announcement down is in
`receivers`, which imports `lifecycle`, which sends these: kept apart so nothing imports in a circle).

Receipts are stored in bulk and state changes are conditional UPDATEs (`lifecycle._claim`,
`changeform.save_changes`: a stale `save()` would undo a colleague's or a scheduler's change), so
neither fires `post_save`. These signals say what changed instead, once the transaction has committed
(never for one that rolls back), with the ids of the announcements concerned:

- `receipts_recorded(sender=Announcement, pks=[...])`: receipts (delivered, seen, dismissed) were
  stored for these announcements; their counts may have moved.
- `announcements_changed(sender=Announcement, pks=[...])`: these announcements' rows were changed
  without `save()`: sent, scheduled, ended, cancelled, resent, started or ended by a scheduler, or
  edited in the admin.

A dashboard connects them to `realtime.live.changed(Announcement, pks=pks)`, a cache to its
invalidation. Receivers run in the process that stored the change, outside any transaction; one that
raises is logged and the others still run (`send_robust`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal

from .models import Announcement

logger = logging.getLogger("realtime.announcements")

#: Sent after commit with `pks`: announcements whose receipts were just stored.
receipts_recorded = Signal()
#: Sent after commit with `pks`: announcements changed by an UPDATE (state, round, fields).
announcements_changed = Signal()


def send_on_commit(signal: Signal, pks: Iterable[int]) -> None:
    """Send `signal` with these announcement ids once the current transaction commits."""
    ids = sorted(set(pks))
    if not ids:
        return

    def send() -> None:
        for handler, result in signal.send_robust(sender=Announcement, pks=ids):
            if isinstance(result, Exception):
                logger.warning("A receiver of an announcements signal (%s) failed: %r", handler, result)

    transaction.on_commit(send)
