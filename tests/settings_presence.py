"""The example site for the presence tests on real daphne: a short presence lease (a killed process's
entries go within seconds instead of PRESENCE_LEASE's 15) and a short diff window."""

from project.settings import *  # noqa: F401,F403
from project.settings import REALTIME

REALTIME = {**REALTIME, "PRESENCE_LEASE": 3.0, "PRESENCE_WINDOW": 0.1}
