"""A connection speaks its viewer's language: the server's error messages come from the core's
catalogue in the language the handshake asks for (the language menu's cookie, then Accept-Language, as
Django's LocaleMiddleware picks a page's), against a real daphne; the codes never change."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from django.utils import translation

from realtime.language import language_of
from realtime.protocol import parse_request
from tests.wsclient import WsClient

CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def handshake(**headers: str) -> dict:
    return {"type": "websocket", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


@pytest.mark.parametrize(
    "headers, language",
    [
        ({}, "en"),
        ({"Accept-Language": "zh-CN,zh;q=0.9"}, "zh-hans"),
        ({"Accept-Language": "zh-Hans"}, "zh-hans"),
        ({"Accept-Language": "fr-FR,fr;q=0.9"}, "en"),  # not in settings.LANGUAGES: the default
        ({"Accept-Language": "fr,zh-CN;q=0.5"}, "zh-hans"),  # the first one the site has
        ({"Accept-Language": "zh-CN", "Cookie": "django_language=en"}, "en"),  # the menu's choice wins
        ({"Cookie": "csrftoken=x; django_language=zh-hans"}, "zh-hans"),
        ({"Cookie": "django_language=klingon", "Accept-Language": "zh-CN"}, "zh-hans"),
    ],
)
def test_the_handshake_picks_the_language_as_localemiddleware_does(headers, language):
    assert language_of(handshake(**headers)) == language


def test_protocol_messages_are_translated_codes_are_not():
    with translation.override("zh-hans"), pytest.raises(Exception) as chinese:
        parse_request('{"type": "subscribe"}', max_bytes=1000)
    with translation.override("en"), pytest.raises(Exception) as english:
        parse_request('{"type": "subscribe"}', max_bytes=1000)
    assert chinese.value.code == english.value.code == "bad_message"
    assert english.value.message == "Field 'topic' is required."
    assert chinese.value.message == "缺少必填字段 'topic'。"


async def refusals(client: WsClient) -> list[dict]:
    """The errors the server sends for a few broken frames, in the order they were sent."""
    answers = []
    for frame in (
        "not json",
        '{"type": "nope", "ref": "a"}',
        '{"type": "subscribe", "ref": "b"}',
        "x" * 70000,
    ):
        await client.socket.send(frame)
        answers.append(await client.receive_where(type="error"))
    return answers


async def test_a_chinese_browser_gets_chinese_errors_an_english_one_english(daphne_server):
    # Open together, answered interleaved: the language is the connection's, not the process's.
    async with (
        WsClient(daphne_server.ws_url, additional_headers=CHINESE) as chinese,
        WsClient(daphne_server.ws_url, additional_headers={"Accept-Language": "en-GB,en"}) as english,
    ):
        zh, en = await asyncio.gather(refusals(chinese), refusals(english))
    assert (
        [e["code"] for e in zh]
        == [e["code"] for e in en]
        == [
            "bad_json",
            "unknown_type",
            "bad_message",
            "frame_too_large",
        ]
    )
    assert [e["message"] for e in zh][:3] == [
        "该帧不是有效的 JSON。",
        "未知类型 'nope'；应为 ['ping', 'presence', 'publish', 'subscribe', 'unsubscribe'] 之一。",
        "缺少必填字段 'topic'。",
    ]
    assert all(CJK.search(e["message"]) for e in zh), zh
    assert en[0]["message"] == "The frame is not valid JSON."
    assert not any(CJK.search(e["message"]) for e in en), en
    assert "Traceback" not in daphne_server.output()


async def test_the_language_menus_cookie_wins_over_the_browser(daphne_server):
    cookie = {"Accept-Language": "en-US,en", "Cookie": "django_language=zh-hans"}
    async with WsClient(daphne_server.ws_url, additional_headers=cookie) as client:
        await client.socket.send("not json")
        assert (await client.receive_where(type="error"))["message"] == "该帧不是有效的 JSON。"


async def test_a_refused_ticket_is_explained_in_the_viewers_language(daphne_server):
    for headers, expected in (
        (CHINESE, "票据无效；请从 /realtime/ticket/ 重新申请。"),
        ({}, "The ticket is not valid"),
    ):
        async with WsClient(f"{daphne_server.ws_url}?ticket=short", additional_headers=headers) as client:
            assert client.hello["code"] == "auth_failed"
            assert client.hello["message"].startswith(expected), client.hello
            await client.socket.wait_closed()
            assert client.socket.close_code == 4001


def test_the_error_envelope_carries_the_message_as_text():
    from realtime import protocol
    from realtime.exceptions import Denied

    with translation.override("zh-hans"):
        envelope = json.loads(protocol.error(Denied()))
    assert envelope == {"type": "error", "code": "forbidden", "message": "你无权在此主题上这样做。"}


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    yield
    translation.deactivate()


def test_the_badge_words_are_the_templates(client):
    """realtime.language.badge_labels() (for the script tag) and realtime/badge.html say the same."""
    from django.template.loader import render_to_string

    from realtime.language import badge_labels

    for language in ("en", "zh-hans"):
        with translation.override(language):
            html = render_to_string("realtime/badge.html")
            labels = badge_labels()
        assert all(f'data-label-{key}="{word}"' in html for key, word in labels.items()), html
    with translation.override("zh-hans"):
        assert badge_labels()["live"] == "已连接" and all(CJK.search(w) for w in badge_labels().values())


def test_a_connection_in_the_sites_own_language_holds_no_override():
    """An override held for a socket's life costs each idle socket memory; in the language already
    active it changes nothing, so none is held (LANGUAGE_CODE en-us is the site's en)."""
    from contextlib import nullcontext

    from django.utils import translation

    from realtime.language import speaking

    previous = translation.get_language()
    translation.deactivate()  # nothing active: what a daphne connection starts with
    try:
        assert translation.get_language() == "en-us"
        assert isinstance(speaking("en"), nullcontext)
        with speaking("zh-hans"):
            assert translation.get_language() == "zh-hans"
            assert isinstance(speaking("zh-hans"), nullcontext)
            with speaking("en"):
                assert translation.get_language() == "en"
    finally:
        translation.activate(previous)
