"""The process hub and its parts: `sequencer` (order, pure), `room` (one topic's subscribers and
fan-out), `hub` (the process: subscriptions, layer groups, the layer reader), `control`, `upkeep`, `registry`. See each module."""

from .hub import Connection, Hub
from .recent import Replay
from .registry import bound_hub, current_hub, get_hub, reset_hub
from .room import Room, Subscription

__all__ = [
    "Connection",
    "Hub",
    "Replay",
    "Room",
    "Subscription",
    "bound_hub",
    "current_hub",
    "get_hub",
    "reset_hub",
]
