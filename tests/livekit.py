"""Helpers for the realtime.live tests: people with or without the view permission, gauges changed
from async tests, and raw frames counted."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from realtime.testing import RealtimeClient
from tests.liveapp.models import Gauge

MODEL_TOPIC = "live.liveapp-gauge"


def person(name: str, *, may_view: bool = True, **extra: Any) -> Any:
    user = get_user_model().objects.create_user(username=name, password="pw", **extra)
    if may_view:
        user.user_permissions.add(Permission.objects.get(codename="view_gauge"))
    return get_user_model().objects.get(pk=user.pk)  # no cached permissions


async def aperson(name: str, **options: Any) -> Any:
    return await database_sync_to_async(person)(name, **options)


async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await database_sync_to_async(function)(*args, **kwargs)


def set_value(pk: int, value: int, **more: Any) -> None:
    gauge = Gauge.objects.get(pk=pk)
    gauge.value = value
    for name, item in more.items():
        setattr(gauge, name, item)
    gauge.save()


async def frames(client: RealtimeClient, quiet: float = 0.6) -> list[list[dict[str, Any]]]:
    """Raw frames (a batch is one frame) until nothing arrives for `quiet` seconds."""
    got = []
    while True:
        if await client.communicator.receive_nothing(timeout=quiet):
            return got
        frame = await client.communicator.receive_output(quiet)
        if frame["type"] != "websocket.send":
            return got
        message = json.loads(frame["text"])
        got.append(message["messages"] if message["type"] == "batch" else [message])


async def subscribed(client: RealtimeClient, topic: str, since: int | None = None) -> dict[str, Any]:
    reply = await client.subscribe(topic, since)
    assert reply["type"] == "subscribed", reply
    return reply
