"""The process hub and its parts: `sequencer` (order, pure), `room` (one topic's subscribers and
fan-out), `hub` (the process: layer reader, control messages, upkeep). See each module."""

from .hub import Connection, Hub, bound_hub, current_hub, get_hub, reset_hub
from .recent import Replay
from .room import Room, Subscription

__all__ = ["Connection", "Hub", "Replay", "Room", "Subscription", "bound_hub", "current_hub", "get_hub",
           "reset_hub"]
