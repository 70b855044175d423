"""The example site for a real daphne with one busy producer: the comment rate limit lifted (one user
posting hundreds of comments is the load under test, not abuse), everything else the product's own."""

from project.settings import *  # noqa: F401,F403
from project.settings import REALTIME

REALTIME = {**REALTIME, "RATE_LIMIT_COUNT": None, "REQUEST_RATE": 1000.0, "REQUEST_BURST": 200}
