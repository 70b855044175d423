"""The example site on a channel layer sharded over several Redis servers: REALTIME_TEST_REDIS_SHARDS holds
their URLs, separated by spaces (tests/test_faults_shards.py)."""

import os

from project.settings import *  # noqa: F401,F403
from realtime.layers import redis_layer

CHANNEL_LAYERS = {"default": redis_layer(os.environ["REALTIME_TEST_REDIS_SHARDS"].split())}
