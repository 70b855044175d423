"""One audience model (issue 19, items 2 and 3), on two daphne processes sharing Redis.

Who an announcement is shown to is the audience now: someone taken off staff, out of the group or off
the chosen users no longer gets the banner on a page load, nor in `subscribed.state`, although they
were sent the round. Who it is taken down from is everyone it may be showing to: "End now", "Cancel"
and an expiry reach a page that got an earlier round, even after its user left the audience and a
resend went to the others only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.accesskit import people, quiet, run, shown, socket, subscribe_all
from tests.announcekit import Browser, page_banners
from tests.wsclient import WsClient

AUDIENCES = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from realtime.announcements import announce
User = get_user_model()
crew, _ = Group.objects.get_or_create(name="crew")
people = {name: User.objects.get(username=name) for name in ("sal", "sid", "gil", "uma")}
people["gil"].groups.add(crew)
people["sid"].groups.add(crew)
made = {
    "staff": announce("For staff", audience="staff").pk,
    "group": announce("For the crew", audience="groups", groups=[crew]).pk,
    "users": announce("For two people", audience="users", users=[people["uma"], people["sid"]]).pk,
}
print(json.dumps(made))
"""

LEAVE = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from realtime.announcements.models import Announcement
User = get_user_model()
sal = User.objects.get(username="sal")
sal.is_staff = False
sal.save()
User.objects.get(username="gil").groups.remove(Group.objects.get(name="crew"))
Announcement.objects.get(pk={users}).users.remove(User.objects.get(username="uma"))
print(json.dumps(True))
"""


def live(reply: dict[str, Any]) -> list[int]:
    return [item["id"] for item in reply["state"]["live"]]


@pytest.fixture(scope="module")
def two(redis_site):
    return redis_site.server(), redis_site.server()


async def test_who_left_the_audience_no_longer_sees_it_on_a_page_or_in_the_state(redis_site, two):
    one, other = two
    ids = await asyncio.to_thread(people, redis_site, "sal", "sid", "gil", "uma", staff=("sal", "sid"))
    made = await asyncio.to_thread(run, redis_site, AUDIENCES)
    expected_before = {
        "sal": [made["staff"]],
        "gil": [made["group"]],
        "uma": [made["users"]],
        "sid": sorted(made.values()),
    }
    browsers = {name: await asyncio.to_thread(Browser(one.url).login, name) for name in expected_before}

    async def seen(name: str) -> tuple[list[int], list[int]]:
        """What `name` is shown: on a page load (process one), in the state of a subscribe (two)."""
        page = sorted(set(page_banners(await asyncio.to_thread(browsers[name].get, "/"))))
        async with WsClient(other.ws_url, **{**browsers[name].ws_options(), "origin": other.url}) as client:
            reply = await client.subscribe(f"announcements.user-{ids[name]}")
        return page, sorted(live(reply))

    for name, expected in expected_before.items():
        assert await seen(name) == (expected, expected), name  # they were sent it: receipts exist
    await asyncio.to_thread(run, redis_site, LEAVE.format(users=made["users"]))
    for name in ("sal", "gil", "uma"):
        assert await seen(name) == ([], []), name
    # Those still in the audiences still see all three.
    assert await seen("sid") == (expected_before["sid"], expected_before["sid"])


ROUND_ONE = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from realtime.announcements import announce
User = get_user_model()
deck, _ = Group.objects.get_or_create(name="deck")
for name in ("lea", "kim"):
    User.objects.get(username=name).groups.add(deck)
made = {
    "end": announce("Ended later", audience="groups", groups=[deck]).pk,
    "cancel": announce("Cancelled later", audience="groups", groups=[deck]).pk,
    "expire": announce("Expires", audience="groups", groups=[deck], ends_in=timedelta(seconds=12)).pk,
}
print(json.dumps(made))
"""

LEAVE_AND_RESEND = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from realtime.announcements import resend
from realtime.announcements.models import Announcement
User = get_user_model()
User.objects.get(username="lea").groups.remove(Group.objects.get(name="deck"))
for pk in {pks}:
    resend(Announcement.objects.get(pk=pk))
print(json.dumps(True))
"""

END_AND_CANCEL = """
import json
from realtime.announcements import cancel, end
from realtime.announcements.models import Announcement
end(Announcement.objects.get(pk={end}))
cancel(Announcement.objects.get(pk={cancel}))
print(json.dumps(True))
"""


def ended(frames: list[dict[str, Any]]) -> dict[int, tuple[int, str]]:
    return {
        f["data"]["id"]: (f["data"]["round"], f["data"]["reason"])
        for f in frames
        if f.get("type") == "event" and f.get("event") == "announcement.ended"
    }


async def until_ended(client: WsClient, count: int, timeout: float) -> dict[int, tuple[int, str]]:
    """The first `count` ends that arrive within `timeout` seconds (fewer if they do not)."""
    got: dict[int, tuple[int, str]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < count and loop.time() < deadline:
        try:
            frame = await client.receive_where(
                type="event", event="announcement.ended", timeout=deadline - loop.time()
            )
        except TimeoutError:
            break
        got[frame["data"]["id"]] = (frame["data"]["round"], frame["data"]["reason"])
    return got


async def test_end_cancel_and_expiry_reach_who_left_after_an_earlier_round(redis_site, two):
    one, other = two
    ids = await asyncio.to_thread(people, redis_site, "lea", "kim")
    lea = await asyncio.to_thread(Browser(other.url).login, "lea")
    kim = await asyncio.to_thread(Browser(one.url).login, "kim")
    leaver, stayer = await socket(other, lea), await socket(one, kim)
    try:
        await subscribe_all(leaver, f"announcements.user-{ids['lea']}")
        await subscribe_all(stayer, f"announcements.user-{ids['kim']}")
        made = await asyncio.to_thread(run, redis_site, ROUND_ONE)
        pks = sorted(made.values())
        for client in (leaver, stayer):
            assert sorted(shown(await quiet(client, 1.0))) == pks  # round 1 reached both
        await asyncio.to_thread(run, redis_site, LEAVE_AND_RESEND.format(pks=pks))
        rounds = await quiet(stayer, 1.0)
        assert sorted(shown(rounds)) == pks
        assert {f["data"]["round"] for f in rounds if f.get("event") == "announcement"} == {2}
        assert shown(await quiet(leaver, 0.3)) == []  # round 2 went to the audience now only
        await asyncio.to_thread(run, redis_site, END_AND_CANCEL.format(**made))
        # Ends carry the current round (2): a page showing round 1 takes it down as well.
        expected = {
            made["end"]: (2, "ended"),
            made["cancel"]: (2, "cancelled"),
            made["expire"]: (2, "expired"),
        }
        for who, client in (("kim, still in", stayer), ("lea, who left", leaver)):
            assert await until_ended(client, 3, timeout=20) == expected, who
    finally:
        for client in (leaver, stayer):
            await client.__aexit__(None, None, None)
    assert "Traceback" not in one.output() + other.output()
