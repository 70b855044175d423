"""Topic kinds: subclass `Topic` to add your own (see `realtime.topics.base`)."""

from .base import ACCOUNT, Client, Topic
from .names import parse_topic
from .registry import load_topic, register_kind, topic_class, topic_kinds

__all__ = [
    "ACCOUNT",
    "Client",
    "Topic",
    "load_topic",
    "parse_topic",
    "register_kind",
    "topic_class",
    "topic_kinds",
]
