"""`redis_layer()` with a `redis+sentinel://` URL, and the check that catches Sentinel entries written by
hand that channels-redis would only fail on (or silently ignore) when it first connects."""

from __future__ import annotations

import pytest
from django.test import override_settings

from realtime.checks import check_installation
from realtime.layers import host_problems, redis_layer, sentinel_host


def test_a_sentinel_url_becomes_a_channels_redis_sentinel_entry():
    config = redis_layer("redis+sentinel://:s3cret@10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster/2")
    (host,) = config["CONFIG"]["hosts"]
    assert host["sentinels"] == [("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 26381)]
    assert host["master_name"] == "mymaster" and host["db"] == 2
    assert host["password"] == "s3cret" and host["username"] is None
    assert "address" not in host
    # The same hardening as a plain URL: no socket timeout on the primary's blocking reads...
    assert host["socket_timeout"] is None and host["max_connections"] == 1_000
    # ...but a quick one on the sentinels, so that a dead one is skipped within LAYER_TIMEOUT.
    assert host["sentinel_kwargs"] == {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


def test_sentinel_credentials_and_shards_mix():
    config = redis_layer(
        ["redis://10.0.0.9:6379/0", "redis+sentinel://a:1,b:2/other?sentinel_password=pw&sentinel_username=u"]
    )
    plain, sentinel = config["CONFIG"]["hosts"]
    assert plain["address"] == "redis://10.0.0.9:6379/0"
    assert sentinel["db"] == 0
    assert sentinel["sentinel_kwargs"]["password"] == "pw" and sentinel["sentinel_kwargs"]["username"] == "u"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://h1:26379,h2:26379", "name the primary"),
        ("redis+sentinel://h1:26379/mymaster/zero", "name the primary"),
        ("redis+sentinel://h1:port/mymaster", "is not a sentinel address"),
        ("redis+sentinel://h1,,h2/mymaster", "is not a sentinel address"),
        ("redis+sentinel://h1/mymaster?master=x", "unknown option(s) master"),
        ("sentinel://h1/mymaster", "use the scheme redis+sentinel://"),
        ("rediss+sentinel://:pw@h1/mymaster", "for TLS"),
    ],
)
def test_a_bad_sentinel_url_says_how_to_write_it(url, says):
    with pytest.raises(ValueError) as raised:
        sentinel_host(url)
    assert says in str(raised.value)
    assert "pw" not in str(raised.value).replace(":***", "")


def test_the_pool_channels_redis_builds_follows_the_sentinels():
    from channels_redis.utils import create_pool
    from redis.asyncio.sentinel import SentinelConnectionPool

    host = redis_layer("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/3")["CONFIG"]["hosts"][0]
    pool = create_pool(host)
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster" and pool.connection_kwargs["db"] == 3
    sentinel = pool.sentinel_manager.sentinels[0]
    assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 1.0


@pytest.mark.parametrize(
    "host",
    [
        {"address": "redis+sentinel://h1:26379/mymaster", "socket_timeout": None},
        "redis+sentinel://h1:26379/mymaster",
        {"sentinels": [("h1", 26379)], "socket_timeout": None},
        {"master_name": "mymaster", "sentinels": [], "socket_timeout": None},
        {"master_name": "mymaster", "sentinels": ["h1:26379"], "socket_timeout": None},
    ],
)
def test_the_check_names_a_sentinel_entry_channels_redis_cannot_use(host):
    layer = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        found = [e for e in check_installation() if e.id == "realtime.E012"]
    assert len(found) == 1, found
    assert "redis_layer(" in found[0].hint


def test_the_check_accepts_what_redis_layer_builds():
    layer = redis_layer(["redis+sentinel://h1,h2,h3/mymaster", "redis://h4:6379/0"])
    assert [p for h in layer["CONFIG"]["hosts"] for p in host_problems(h)] == []
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        assert not [e for e in check_installation() if e.id in ("realtime.E012", "realtime.W002")]
