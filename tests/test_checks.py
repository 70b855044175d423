"""System checks for what a tutorial's reader gets wrong: each fires on the bad configuration and is
silent on the good one."""

from django.test import override_settings

from realtime.checks import check_mounting, check_settings_keys


def ids(check, **overrides):
    with override_settings(**overrides):
        return [message.id for message in check()]


def test_the_example_project_mounts_everything():
    assert ids(check_mounting, DEBUG=True) == []


def test_the_websocket_route_not_mounted_is_an_error():
    assert "realtime.E006" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.no_websocket")
    assert "realtime.E006" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.plain_django")
    assert "realtime.E006" not in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.good")


def test_static_files_not_served_under_daphne_in_debug_is_a_warning():
    assert "realtime.W005" in ids(
        check_mounting, DEBUG=True, ASGI_APPLICATION="tests.asgi_variants.no_static"
    )
    assert "realtime.W005" not in ids(check_mounting, DEBUG=True, ASGI_APPLICATION="tests.asgi_variants.good")
    # In production static files are the web server's job: no warning.
    assert "realtime.W005" not in ids(
        check_mounting, DEBUG=False, ASGI_APPLICATION="tests.asgi_variants.no_static"
    )


def test_an_asgi_module_that_does_not_import_is_reported_not_raised():
    assert "realtime.W004" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.missing")


def test_ticket_urls_not_included_is_a_warning():
    assert "realtime.W006" in ids(check_mounting, ROOT_URLCONF="tests.urls_without_realtime")
    assert "realtime.W006" not in ids(check_mounting)


def test_allowed_hosts_star_is_a_warning_in_production():
    assert "realtime.W007" in ids(check_mounting, ALLOWED_HOSTS=["*"], DEBUG=False)
    assert "realtime.W007" not in ids(check_mounting, ALLOWED_HOSTS=["example.com"], DEBUG=False)


def test_an_unknown_realtime_key_is_an_error_that_suggests_the_right_one():
    with override_settings(REALTIME={"HISTORY_LIMT": 50}):
        [message] = check_settings_keys()
    assert message.id == "realtime.E007" and "'HISTORY_LIMIT'" in message.hint
    # Keys declared by installed features count as known.
    assert ids(check_settings_keys, REALTIME={"HISTORY_LIMIT": 50, "RATE_LIMIT_COUNT": 3}) == []
