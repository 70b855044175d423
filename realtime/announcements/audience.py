"""Who an announcement is for, and on which topics it travels.

Topics (kind `announcements`, see `topic.py`), each subscribable only by the people it names:

- `announcements.all`: everyone, anonymous visitors included (audience `everyone`);
- `announcements.users`: signed-in users (audience `signed_in`);
- `announcements.user-<id>`: one user, on every tab and device (audiences `staff`, `groups`, `users`:
  one stored event per recipient, chosen when the round is sent; also where a dismissal is echoed to
  the user's other pages);
- `announcements.stream-<id>`: whoever the stream topic `stream.<id>` lets watch (audience `stream`).

A user outside an audience cannot subscribe to the topic that carries it, so neither the event nor
its title ever reaches their socket.

Two questions, two answers. Who it is shown to is the audience now (`includes`, `live_on`: a page
load, a subscribe, a resend's recipients). Who it must be taken down from is everyone it may be
showing to (`withdrawal_topics`): every recipient of any round as well as the audience now.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Announcement, Audience, Receipt, State

KIND = "announcements"
ALL_TOPIC = f"{KIND}.all"
SIGNED_IN_TOPIC = f"{KIND}.users"
USER_PREFIX = "user-"
STREAM_PREFIX = "stream-"


def user_topic(user_id: int) -> str:
    return f"{KIND}.{USER_PREFIX}{user_id}"


def stream_topic(stream_id: int) -> str:
    return f"{KIND}.{STREAM_PREFIX}{stream_id}"


def validate_choices(audience: str, groups: Iterable[Any], users: Iterable[Any]) -> None:
    if audience == Audience.GROUPS and not list(groups):
        raise ValidationError({"groups": _("Choose at least one group.")})
    if audience == Audience.USERS and not list(users):
        raise ValidationError({"users": _("Choose at least one user.")})


def audience_users(announcement: Announcement) -> QuerySet:
    """The active users the audience names now (none for `stream`: its viewers are not a list)."""
    users = get_user_model()._default_manager.filter(is_active=True)
    audience = announcement.audience
    if audience in (Audience.EVERYONE, Audience.SIGNED_IN):
        return users
    if audience == Audience.STAFF:
        return users.filter(is_staff=True)
    if audience == Audience.GROUPS:
        return users.filter(groups__in=announcement.groups.all()).distinct()
    if audience == Audience.USERS:
        return users.filter(pk__in=announcement.users.values("pk"))
    return users.none()


def recipients(announcement: Announcement) -> list[int]:
    """Ids of the users a targeted round goes to: the audience now, plus those already sent this round
    (a round resumed after a crash goes on to the same people). Taking it down goes wider:
    `withdrawal_topics`."""
    now = set(audience_users(announcement).values_list("pk", flat=True))
    sent = Receipt.objects.filter(announcement=announcement, round=announcement.round).values_list(
        "user_id", flat=True
    )
    return sorted(now | set(sent))


def delivery_topics(announcement: Announcement, user_ids: Iterable[int] = ()) -> list[str]:
    """The topics one round travels on (`user_ids`: the recipients of a targeted audience)."""
    if announcement.audience == Audience.EVERYONE:
        return [ALL_TOPIC]
    if announcement.audience == Audience.SIGNED_IN:
        return [SIGNED_IN_TOPIC]
    if announcement.audience == Audience.STREAM:
        return [stream_topic(announcement.stream_id)] if announcement.stream_id else []
    return [user_topic(pk) for pk in user_ids]


def carries(topic: str, announcement: Announcement, user: Any) -> bool:
    """Whether `topic` is where `user` is sent `announcement` (the user already passed the topic's
    subscription check, so for every audience but the targeted ones the topic says it all)."""
    if announcement.audience in (Audience.STAFF, Audience.GROUPS, Audience.USERS):
        return topic == user_topic(user.pk) and includes(announcement, user)
    return topic in delivery_topics(announcement)


def includes(announcement: Announcement, user: Any) -> bool:
    """Whether `announcement` is for `user` now: the audience as it stands at this moment (a page load,
    a subscribe), never "was sent an earlier round". Someone who left staff, a group or the chosen
    users stops seeing it on their next page, though their receipt of the round stays (the figures)."""
    if not getattr(user, "is_authenticated", False):
        return announcement.audience == Audience.EVERYONE
    if announcement.audience in (Audience.EVERYONE, Audience.SIGNED_IN):
        return bool(user.is_active)
    return audience_users(announcement).filter(pk=user.pk).exists()


def withdrawal_topics(announcement: Announcement) -> list[str]:
    """Every topic the announcement may be showing on: where an end, a cancel or an expiry must go.

    Wider than where the current round went: for a targeted audience, the topic of everyone who was
    sent any round of it or reported one (a receipt) and of everyone in the audience now (a page load
    shows it to people added since the round). Someone who got round 1 and left the group before a
    resend still has the banner open from round 1; this is how it reaches them."""
    if not announcement.targeted:
        return delivery_topics(announcement)
    now = set(audience_users(announcement).values_list("pk", flat=True))
    ever = set(Receipt.objects.filter(announcement=announcement).values_list("user_id", flat=True))
    return delivery_topics(announcement, sorted(now | ever))


def payload(announcement: Announcement, *, test: bool = False) -> dict[str, Any]:
    """What clients are sent: the text and how to show it. Never the audience, never a clock to obey
    (the server ends it), never anything but plain values."""
    data: dict[str, Any] = {
        "id": announcement.pk,
        "round": 0 if test else announcement.round,
        "title": announcement.title,
        "body": announcement.body,
        "link": announcement.link,
        "level": announcement.level,
        "dismissible": True if test else announcement.is_dismissible,
        "sent_at": (announcement.sent_at or timezone.now()).isoformat(),
    }
    if test:
        data["test"] = True
    return data


def showing(now: Any = None) -> QuerySet:
    """Announcements live by the server's clock (also before the scheduler has caught up)."""
    now = now or timezone.now()
    return Announcement.objects.filter(state=State.LIVE).exclude(starts_at__gt=now).exclude(ends_at__lte=now)


def live_on(topic: str, user: Any) -> list[dict[str, Any]]:
    """The live announcements `topic` carries for `user`, minus those the user dismissed this round."""
    candidates = showing()
    if topic == ALL_TOPIC:
        candidates = candidates.filter(audience=Audience.EVERYONE)
    elif topic == SIGNED_IN_TOPIC:
        candidates = candidates.filter(audience=Audience.SIGNED_IN)
    elif topic.startswith(f"{KIND}.{STREAM_PREFIX}"):
        candidates = candidates.filter(audience=Audience.STREAM, stream_id=int(topic.rsplit("-", 1)[1]))
    else:
        candidates = candidates.filter(audience__in=[Audience.STAFF, Audience.GROUPS, Audience.USERS])
    found = list(candidates.order_by("-sent_at", "-pk")[:50])
    if getattr(user, "is_authenticated", False):
        if topic.startswith(f"{KIND}.{USER_PREFIX}"):
            found = [item for item in found if includes(item, user)]
        dismissed = set(
            Receipt.objects.filter(
                user=user,
                announcement__in=found,
                round=F("announcement__round"),
                dismissed_at__isnull=False,
            ).values_list("announcement_id", flat=True)
        )
        found = [item for item in found if item.pk not in dismissed or not item.is_dismissible]
    return [payload(item) for item in found]


def topics_for(user: Any) -> list[str]:
    """The topics a page subscribes to for `user` (stream pages add their stream's)."""
    if not getattr(user, "is_authenticated", False):
        return [ALL_TOPIC]
    return [ALL_TOPIC, SIGNED_IN_TOPIC, user_topic(user.pk)]
