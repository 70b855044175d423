"""Every change of an announcement's state, in one place: the admin, the Python API, the commands and
the scheduler all come here.

Each change is claimed in the database before anything is sent: a conditional UPDATE of `state`
(`... WHERE pk = ? AND state IN (...)`) that only one caller can win, so two processes (or the
scheduler racing an admin's click) never both send. On PostgreSQL a scheduler first takes the row with
`SELECT ... FOR UPDATE SKIP LOCKED`, so a process finding it claimed by another moves on instead of
queueing behind it. A person's action (cancel, end, send, resend, schedule) waits for the row instead:
skipping would answer "nothing to cancel" while a scheduler's claim is about to put it live, so Cancel
queues behind that claim, sees it live, and takes it down. SQLite has no row locks, and its database
lock plus the conditional UPDATE give the same answers.

Claims are short. A round to everyone, the signed-in users or a stream's viewers is one event, stored
in the claiming transaction and published after it commits. A targeted round (one event per
recipient) is delivered after the claim commits, in chunks, by `delivery` (resumable; the scheduler
takes over a round whose process died).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ..api import send_to_hubs
from ..eventlog import store_event, store_on_topics
from ..publishing import publish_on_commit
from . import delivery
from .audience import delivery_topics, payload, user_topic, withdrawal_topics
from .models import Announcement, State
from .signals import announcements_changed, send_on_commit

logger = logging.getLogger("realtime.announcements")

#: Channel-layer message that makes every hub's scheduler look at its next start or end again.
WAKE_MESSAGE = "realtime.announcements.wake"


class AnnouncementError(Exception):
    """A change that does not apply (ending a draft, scheduling in the past): the message says why."""


def _claim(
    pk: int,
    expected: tuple[str, ...],
    when: dict[str, Any] | None = None,
    *,
    skip_locked: bool = False,
    **changes: Any,
) -> Announcement | None:
    """Move the row out of one of the `expected` states (and `when` conditions, e.g. a start time that
    has come); the fresh row, or None if another caller won. Must run inside `transaction.atomic()`.

    `skip_locked` (schedulers): a row another transaction holds is left to it. Otherwise the claim
    waits for that transaction and judges the row as it committed it."""
    rows = Announcement.objects.filter(pk=pk, state__in=expected, **(when or {}))
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        if rows.select_for_update(skip_locked=True).values_list("pk", flat=True).first() is None:
            return None
    elif connection.features.has_select_for_update:
        # Locked by the id alone: a filter on the state would be judged on the row as it was before
        # the holder's change (still scheduled, say) and miss what it is now (live).
        Announcement.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True).first()
    if not rows.update(**changes):
        return None
    send_on_commit(announcements_changed, [pk])
    return Announcement.objects.get(pk=pk)


def _fresh(announcement: Announcement) -> Announcement:
    row = Announcement.objects.filter(pk=announcement.pk).first()
    if row is None:
        raise AnnouncementError(_("'%(title)s' no longer exists.") % {"title": announcement})
    return row


def _log(announcement: Announcement, by: Any, message: str) -> None:
    """An admin history entry (LogEntry) for the person who did it, when the admin is installed."""
    if by is None or not getattr(by, "pk", None) or not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import CHANGE, LogEntry

    LogEntry.objects.log_actions(by.pk, [announcement], CHANGE, change_message=message, single_object=True)


def _wake_schedulers() -> None:
    transaction.on_commit(lambda: send_to_hubs({"type": WAKE_MESSAGE}))


def _deliver(announcement: Announcement, *, now: bool = True) -> None:
    """Send the round just claimed. One topic: stored in the claim, published after commit. Targeted:
    by `delivery`, in chunks once the claim has committed (`now=False`: left to the caller's
    scheduler, which takes free rounds)."""
    if announcement.targeted:
        if now:
            delivery.deliver(announcement.pk, announcement.round)  # waits for the commit
        return
    data = payload(announcement)
    topics = delivery_topics(announcement)
    for event in store_on_topics([(topic, "announcement", data) for topic in topics]):
        publish_on_commit(event)


def _withdraw(announcement: Announcement, reason: str) -> None:
    """Tell every page showing this round to take it down (a marker: replayed to resuming clients)."""
    data = {"id": announcement.pk, "round": announcement.round, "reason": reason}
    topics = withdrawal_topics(announcement)  # also those who got an earlier round and left since
    for event in store_on_topics([(topic, "announcement.ended", data) for topic in topics], marker=True):
        publish_on_commit(event)


def _check_end(ends_at: datetime | None, now: datetime) -> None:
    if ends_at is not None and ends_at <= now:
        raise AnnouncementError(_("Its end time has passed; set a later end (or none) first."))


def send_now(announcement: Announcement, *, by: Any = None) -> Announcement:
    """Put a draft or scheduled announcement live now, for its whole audience."""
    now = timezone.now()
    with transaction.atomic():
        _check_end(_fresh(announcement).ends_at, now)
        sent = _claim(
            announcement.pk,
            (State.DRAFT, State.SCHEDULED),
            state=State.LIVE,
            starts_at=now,
            sent_at=now,
            round=F("round") + 1,
            ended_at=None,
            delivery_lease=None,
        )
        if sent is None:
            raise AnnouncementError(
                _("'%(title)s' is no longer a draft or scheduled; nothing was sent.")
                % {"title": announcement}
            )
        _deliver(sent)
        _log(sent, by, "Sent now.")
        if sent.ends_at is not None:
            _wake_schedulers()
    return sent


def schedule(announcement: Announcement, *, by: Any = None) -> Announcement:
    """Let the scheduler send a draft at its start time (and end it at its end time)."""
    now = timezone.now()
    with transaction.atomic():
        row = _fresh(announcement)
        if row.starts_at is None or row.starts_at <= now:
            raise AnnouncementError(_("Set a start time in the future to schedule it (or send it now)."))
        _check_end(row.ends_at, now)
        scheduled = _claim(announcement.pk, (State.DRAFT,), state=State.SCHEDULED)
        if scheduled is None:
            raise AnnouncementError(
                _("'%(title)s' is not a draft; only drafts can be scheduled.") % {"title": announcement}
            )
        _log(scheduled, by, f"Scheduled for {row.starts_at.isoformat()}.")
        _wake_schedulers()
    return scheduled


def end(announcement: Announcement, *, by: Any = None) -> Announcement:
    """End a live announcement now: every open banner of it disappears."""
    with transaction.atomic():
        ended = _claim(announcement.pk, (State.LIVE,), state=State.ENDED, ended_at=timezone.now())
        if ended is None:
            raise AnnouncementError(
                _("'%(title)s' is not live; only live announcements can be ended.") % {"title": announcement}
            )
        _withdraw(ended, "ended")
        _log(ended, by, "Ended.")
    return ended


def cancel(announcement: Announcement, *, by: Any = None) -> Announcement:
    """Call off a scheduled announcement, or take down a live one (its banners disappear)."""
    now = timezone.now()
    with transaction.atomic():
        # Two claims, at most one wins: which one says whether banners are up to take down.
        taken_down = _claim(announcement.pk, (State.LIVE,), state=State.CANCELLED, ended_at=now)
        cancelled = taken_down or _claim(
            announcement.pk, (State.SCHEDULED,), state=State.CANCELLED, ended_at=now
        )
        if cancelled is None:
            raise AnnouncementError(
                _("'%(title)s' is neither scheduled nor live; nothing to cancel.") % {"title": announcement}
            )
        if taken_down is not None:
            _withdraw(cancelled, "cancelled")
        _log(cancelled, by, "Cancelled.")
    return cancelled


def resend(announcement: Announcement, *, by: Any = None) -> Announcement:
    """Send again as a new round: everyone in the audience sees it again, those who dismissed it too.

    A live one keeps its end; an ended or cancelled one runs again for as long as it ran before (no end
    if it had none)."""
    now = timezone.now()
    with transaction.atomic():
        row = _fresh(announcement)
        ends_at = row.ends_at
        if row.state != State.LIVE and ends_at is not None:
            start = row.sent_at or row.starts_at
            ends_at = now + (ends_at - start) if start is not None and ends_at > start else None
        _check_end(ends_at, now)
        sent = _claim(
            announcement.pk,
            (State.LIVE, State.ENDED, State.CANCELLED),
            state=State.LIVE,
            starts_at=now,
            sent_at=now,
            ends_at=ends_at,
            ended_at=None,
            round=F("round") + 1,
            delivery_lease=None,
        )
        if sent is None:
            raise AnnouncementError(
                _("'%(title)s' has not been sent yet; send it instead of resending.")
                % {"title": announcement}
            )
        _deliver(sent)
        _log(sent, by, f"Resent (round {sent.round}).")
        _wake_schedulers()
    return sent


def send_test(announcement: Announcement, user: Any) -> int:
    """Show the banner on `user`'s own open pages only, marked as a test; nothing else changes and no
    receipt is counted. Returns the event's id on the user's topic."""
    with transaction.atomic():
        stored = store_event(user_topic(user.pk), "announcement", payload(announcement, test=True))
        publish_on_commit(stored)
        _log(announcement, user, "Sent a test to themselves.")
    assert stored.id is not None
    return stored.id


def start_due(pk: int, now: datetime, *, deliver: bool = True) -> bool:
    """The scheduler's start: True if this process won the claim and sent it. `deliver=False`: a
    targeted round is left for the caller to deliver (`delivery.free_rounds`)."""
    due = {"starts_at__lte": now}
    with transaction.atomic():
        missed = _claim(
            pk,
            (State.SCHEDULED,),
            {**due, "ends_at__lte": now},
            skip_locked=True,
            state=State.ENDED,
            ended_at=now,
        )
        if missed is not None:
            # Its whole window passed while no scheduler ran: nobody may be shown it any more.
            logger.warning("Announcement %s ended unsent: no scheduler ran between its start and end", pk)
            _log(missed, missed.created_by, "Ended unsent: no scheduler ran between its start and end.")
            return False
        sent = _claim(
            pk,
            (State.SCHEDULED,),
            due,
            skip_locked=True,
            state=State.LIVE,
            sent_at=now,
            round=F("round") + 1,
            ended_at=None,
            delivery_lease=None,
        )
        if sent is None:
            return False
        _deliver(sent, now=deliver)
        _log(sent, sent.created_by, "Went live at its start time (scheduler).")
    logger.info("Announcement %s went live as scheduled", pk)
    return True


def end_due(pk: int, now: datetime) -> bool:
    """The scheduler's end: True if this process won the claim and took it down."""
    with transaction.atomic():
        ended = _claim(
            pk, (State.LIVE,), {"ends_at__lte": now}, skip_locked=True, state=State.ENDED, ended_at=now
        )
        if ended is None:
            return False
        _withdraw(ended, "expired")
        _log(ended, ended.created_by, "Ended at its end time (scheduler).")
    logger.info("Announcement %s ended at its end time", pk)
    return True


def take_down(announcement: Announcement, reason: str) -> None:
    """Remove a live announcement's banners without changing its row (it is being deleted)."""
    with transaction.atomic():
        _withdraw(announcement, reason)
