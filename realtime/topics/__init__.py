"""Topic kinds: subclass `Topic` to add your own (see `realtime.topics.base`)."""

from .base import Client, Topic
from .registry import load_topic, topic_class, topic_kinds

__all__ = ["Client", "Topic", "load_topic", "topic_class", "topic_kinds"]
