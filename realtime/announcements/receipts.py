"""Receipts: a user's clients report `delivered`, `seen` (on screen while the tab was visible) and
`dismissed`, each counted once per user and delivery round.

When an announcement to everyone goes live, every connected client reports at once; one transaction per
report would queue thousands of writers on the database. So each process gathers the reports arriving
within `ANNOUNCEMENT_RECEIPT_INTERVAL` and stores them in one transaction (`ReceiptBatcher`, a hub
service), and the client's acknowledgement waits for that commit.

A report counts only if it comes on a topic that carries the announcement to this user, for the round
now live (a stale round, a test banner or an announcement for others is ignored, with the same answer
as a repeat, so the answer tells nobody whether an announcement they were not sent exists). A later
stage implies the earlier ones: a dismissal marks the banner delivered and seen. A dismissal is echoed to
the user's other pages (their own topic), so it closes on every tab and device at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..eventlog import store_on_topics
from ..exceptions import ProtocolError
from ..publishing import publish_on_commit
from .audience import carries, user_topic
from .conf import realtime_settings
from .models import Announcement, Receipt, State
from .signals import receipts_recorded, send_on_commit

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.announcements")

KINDS = ("delivered", "seen", "dismissed")
FIELDS = {"delivered": "delivered_at", "seen": "seen_at", "dismissed": "dismissed_at"}
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Report:
    user: Any
    topic: str
    announcement: int
    round: int
    kind: str


def parse_report(user: Any, topic: str, data: dict[str, Any]) -> Report:
    """Validate a client's `receipt` publish: {"announcement": id, "round": n, "kind": ...}."""
    pk, round_, kind = data.get("announcement"), data.get("round"), data.get("kind")
    for name, value in (("announcement", pk), ("round", round_)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
            raise ProtocolError(
                "bad_receipt", _("Field %(name)s must be a whole number.") % {"name": repr(name)}
            )
    if kind not in KINDS:
        raise ProtocolError(
            "bad_receipt", _("Field 'kind' must be one of %(kinds)s.") % {"kinds": ", ".join(KINDS)}
        )
    assert isinstance(pk, int) and isinstance(round_, int) and isinstance(kind, str)  # checked above
    return Report(user, topic, pk, round_, kind)


def store_reports(reports: list[Report]) -> list[bool]:
    """Store a batch of reports in one transaction; for each, whether it counted."""
    now = timezone.now()
    with transaction.atomic():
        found = {a.pk: a for a in Announcement.objects.filter(pk__in={r.announcement for r in reports})}
        counted: list[bool] = []
        wanted: dict[tuple[int, int], set[str]] = {}
        for report in reports:
            announcement = found.get(report.announcement)
            valid = (
                announcement is not None
                and announcement.state == State.LIVE
                and report.round == announcement.round > 0
                and (report.kind != "dismissed" or announcement.is_dismissible)
                and carries(report.topic, announcement, report.user)
            )
            counted.append(valid)
            if valid:
                wanted.setdefault((report.announcement, report.user.pk), set()).add(report.kind)
        fresh = _apply(found, wanted, now)
        answered: set[tuple[int, int, str]] = set()  # two tabs reporting together: the first counts
        for index, report in enumerate(reports):
            key = (report.announcement, report.user.pk, report.kind)
            counted[index] = counted[index] and key not in answered and report.kind in fresh.get(key[:2], ())
            answered.add(key)
        # Echoed on each user's own topic: several topics in one transaction, so in the one lock order.
        echoes = [
            (user_topic(user_id), "announcement.dismissed", {"id": pk, "round": found[pk].round})
            for (pk, user_id), kinds in fresh.items()
            if "dismissed" in kinds
        ]
        for event in store_on_topics(echoes, marker=True):
            publish_on_commit(event)
        send_on_commit(receipts_recorded, {pk for pk, _user in fresh})
    return counted


def _apply(
    found: dict[int, Announcement], wanted: dict[tuple[int, int], set[str]], now: Any
) -> dict[tuple[int, int], set[str]]:
    """Set each wanted stage that was not set yet; return the stages newly set per (announcement, user)."""
    fresh: dict[tuple[int, int], set[str]] = {}
    by_announcement: dict[int, set[int]] = {}
    for pk, user_id in wanted:
        by_announcement.setdefault(pk, set()).add(user_id)
    # Receipt rows are inserted and locked in (announcement, user) order, the order announcement
    # deliveries insert them in too, so two batches (two processes) never wait for each other in a cycle.
    for pk in sorted(by_announcement):
        user_ids = sorted(by_announcement[pk])
        round_ = found[pk].round
        Receipt.objects.bulk_create(
            [Receipt(announcement_id=pk, user_id=u, round=round_) for u in user_ids], ignore_conflicts=True
        )
        rows = (
            Receipt.objects.select_for_update()
            .filter(announcement_id=pk, round=round_, user_id__in=user_ids)
            .order_by("user_id")
        )
        changed = []
        for row in rows:
            kinds = wanted[(pk, row.user_id)]
            stages = set(KINDS[: max(KINDS.index(kind) for kind in kinds) + 1])  # later implies earlier
            new = {kind for kind in stages if getattr(row, FIELDS[kind]) is None}
            if not new:
                continue
            for kind in new:
                setattr(row, FIELDS[kind], now)
            fresh[(pk, row.user_id)] = new
            changed.append(row)
        Receipt.objects.bulk_update(changed, list(FIELDS.values()))
    return fresh


class ReceiptBatcher:
    """One per hub: reports wait up to the receipt interval, then go to the database together."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.waiting: list[tuple[Report, asyncio.Future]] = []
        self.flushing = False

    async def record(self, report: Report) -> bool:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((report, future))
        if not self.flushing:
            self.flushing = True
            self.hub.spawn(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(float(realtime_settings.ANNOUNCEMENT_RECEIPT_INTERVAL))
            while self.waiting:
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                await self._store(batch)
        finally:
            self.flushing = False
            if self.waiting:  # arrived while the last store finished: start the next round
                self.flushing = True
                self.hub.spawn(self._drain())

    async def _store(self, batch: list[tuple[Report, asyncio.Future]]) -> None:
        try:
            counted = await database_sync_to_async(store_reports)([report for report, _future in batch])
        except Exception as exc:  # each waiting client is told the server failed, and may retry
            logger.warning("Could not store %d announcement receipt(s) (%s)", len(batch), exc)
            for _report, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_report, future), result in zip(batch, counted, strict=True):
            if not future.done():
                future.set_result(result)
