"""Helpers for the announcement tests: people, announcing from async tests, reading what arrived."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from realtime.testing import RealtimeClient, events


async def announce(*args: Any, **kwargs: Any) -> Any:
    from realtime.announcements import announce as announce_now

    return await database_sync_to_async(announce_now)(*args, **kwargs)


async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await database_sync_to_async(function)(*args, **kwargs)


def shown(messages: list[dict[str, Any]]) -> list[int]:
    """Ids of the `announcement` events among `messages`, in order."""
    return [m["data"]["id"] for m in events(messages, "announcement")]


def ended(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["id"] for m in events(messages, "announcement.ended")]


async def subscribed(client: RealtimeClient, topic: str, since: int | None = None) -> dict[str, Any]:
    reply = await client.subscribe(topic, since)
    assert reply["type"] == "subscribed", reply
    return reply


async def receipt(client: RealtimeClient, topic: str, pk: int, kind: str, round_: int = 1) -> dict[str, Any]:
    return await client.publish(topic, "receipt", {"announcement": pk, "round": round_, "kind": kind})


# -- real daphne processes ------------------------------------------------------------------------
class Browser:
    """A cookie-keeping HTTP client for a daphne-served site: one person's browser, without the page's
    scripts (the sockets are opened by the test, with this browser's session cookie)."""

    def __init__(self, base_url: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=20) as response:
            return response.read().decode()

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]]) -> tuple[int, str]:
        import urllib.parse

        if self.cookie("csrftoken") is None:
            self.get(path)
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        body = urllib.parse.urlencode([*pairs, ("csrfmiddlewaretoken", self.cookie("csrftoken"))]).encode()
        with self.opener.open(self.base_url + path, data=body, timeout=20) as response:
            return response.status, response.read().decode()

    def login(self, username: str, password: str = "demo", path: str = "/accounts/login/") -> Browser:
        self.get(path)
        self.post(path, {"username": username, "password": password, "next": "/"})
        assert self.cookie("sessionid"), f"{username} could not log in"
        return self

    def ws_options(self) -> dict[str, Any]:
        """Open a socket as this browser would: its cookies, its origin."""
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.jar)
        return {"additional_headers": {"Cookie": cookies}, "origin": self.base_url}


def page_banners(html: str) -> list[int]:
    """Ids of the announcement banners a page was rendered with."""
    import re

    return [int(pk) for pk in re.findall(r'data-rt-announcement="(\d+)"', html)]


def page_config(html: str, of: str = "data-rt-announcements") -> dict[str, Any]:
    """The page config of the element carrying the `of` attribute (the banner stack by default; the
    notifications badge is `data-rt-notifications`): a signed-in page's header holds the badge's first."""
    import html as html_lib
    import json
    import re

    found = re.search(of + r' data-config="([^"]*)"', html)
    return json.loads(html_lib.unescape(found.group(1)))


PEOPLE_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from realtime.tickets import issue_ticket
User = get_user_model()
team, _ = Group.objects.get_or_create(name="team")
spec = json.loads({spec!r})
out = {{}}
for name, extra in spec.items():
    groups = extra.pop("groups", [])
    user, created = User.objects.get_or_create(username=name, defaults=extra)
    if created:
        user.set_password("demo")
        user.save()
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    out[name] = {{"id": user.pk, "ticket": issue_ticket(user)}}
out["team"] = {{"id": team.pk}}
print(json.dumps(out))
"""


def people(site: Any, spec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Create (or find) users, each with password 'demo' and a fresh socket ticket: {name: {id, ticket}}."""
    import json

    output = site.manage("shell", "-c", PEOPLE_SCRIPT.format(spec=json.dumps(spec)))
    return json.loads(output.strip().splitlines()[-1])
