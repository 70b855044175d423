"""The example site for a real daphne with many posters at once: the stream's own comment rate limit
lifted (ten people posting a hundred comments each is the load under test), the connection's request
budget and everything else the product's own defaults."""

from project.settings import *  # noqa: F401,F403
from project.settings import REALTIME

REALTIME = {**REALTIME, "RATE_LIMIT_COUNT": None}
