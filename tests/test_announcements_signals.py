"""realtime.announcements' signals: `receipts_recorded` and `announcements_changed` are sent after
commit with the ids concerned, for the writes that fire no `post_save` (bulk receipts, conditional
UPDATEs of the lifecycle and of the admin's change form), and not for what changes nothing."""

from __future__ import annotations

import pytest

from realtime.announcements.models import Announcement

pytestmark = pytest.mark.django_db


def report(user, announcement: Announcement, kind: str = "seen"):
    from realtime.announcements.audience import delivery_topics
    from realtime.announcements.receipts import Report

    return Report(user, delivery_topics(announcement)[0], announcement.pk, announcement.round, kind)


@pytest.fixture
def recorded():
    """What `receipts_recorded` and `announcements_changed` were sent with, in order."""
    from realtime.announcements.signals import announcements_changed, receipts_recorded

    sent: list[tuple[str, list[int]]] = []

    def on_receipts(sender, pks, **kwargs):
        sent.append(("receipts", pks))

    def on_changed(sender, pks, **kwargs):
        sent.append(("changed", pks))

    receipts_recorded.connect(on_receipts, dispatch_uid="test.receipts")
    announcements_changed.connect(on_changed, dispatch_uid="test.changed")
    yield sent
    receipts_recorded.disconnect(dispatch_uid="test.receipts")
    announcements_changed.disconnect(dispatch_uid="test.changed")


def test_receipts_recorded_is_sent_after_commit_with_the_ids_whose_receipts_moved(
    alice, bob, recorded, django_capture_on_commit_callbacks
):
    from realtime.announcements import announce
    from realtime.announcements.receipts import store_reports

    notice = announce("Hello", audience="everyone")
    other = announce("Other", audience="everyone")
    recorded.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert store_reports([report(alice, notice), report(bob, other, "delivered")]) == [True, True]
    assert recorded == []  # not before the commit
    for callback in callbacks:
        callback()
    assert recorded == [("receipts", sorted([notice.pk, other.pk]))]
    recorded.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert store_reports([report(alice, notice)]) == [False]  # a repeat moves nothing
    assert recorded == []


def test_announcements_changed_is_sent_when_one_is_ended_by_an_update(
    recorded, django_capture_on_commit_callbacks
):
    from realtime.announcements import announce, end

    with django_capture_on_commit_callbacks(execute=True):
        notice = announce("Hello", audience="everyone")
        end(notice)
    assert recorded == [("changed", [notice.pk]), ("changed", [notice.pk])]  # sent, then ended


def test_an_admin_edit_is_announced_and_a_refused_one_is_not(recorded, django_capture_on_commit_callbacks):
    from realtime.announcements.changeform import save_changes

    notice = Announcement.objects.create(title="Draft")
    notice.title = "Edited"
    with django_capture_on_commit_callbacks(execute=True):
        assert save_changes(notice, ["title"])
    assert recorded == [("changed", [notice.pk])]
    recorded.clear()
    notice.state = "live"  # the form was built for another state: nothing written, nothing sent
    with django_capture_on_commit_callbacks(execute=True):
        assert not save_changes(notice, ["title"])
    assert recorded == []
