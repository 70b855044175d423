"""Topic names and the channel-layer group names built from them, validated in one place.

Channels allows group names of ASCII letters, digits, `-`, `_` and `.` under 100 characters; topic
names are stricter (`<kind>.<key>`) so a group name can never be built from raw client text.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from ..exceptions import ProtocolError

TOPIC_RE = re.compile(r"^(?P<kind>[a-z][a-z0-9_]{0,19})\.(?P<key>[A-Za-z0-9_-]{1,59})$")
GROUP_PREFIX = "realtime.t."
# Every hub joins this group: process-wide control messages (disconnect a user, presence reports).
CONTROL_GROUP = "realtime.control"


def parse_topic(name: object) -> tuple[str, str]:
    """Split a topic name into (kind, key), or raise `unknown_topic`."""
    if not isinstance(name, str):
        raise ProtocolError("bad_message", _("Field 'topic' must be a string such as 'stream.42'."))
    match = TOPIC_RE.match(name)
    if match is None:
        raise ProtocolError(
            "unknown_topic",
            _("%(name)s is not a topic name; expected '<kind>.<key>' such as 'stream.42'.")
            % {"name": repr(name[:80])},
        )
    return match["kind"], match["key"]


def group_for_topic(topic: str) -> str:
    """The channel-layer group carrying `topic` between processes."""
    parse_topic(topic)
    return GROUP_PREFIX + topic
