"""parse_request: every client frame ends in a Request or a ProtocolError with a stable code."""

import json

import pytest

from realtime.exceptions import ProtocolError
from realtime.protocol import MalformedRequest, batch_envelope, error, event_envelope, parse_request

MAX = 1000


def code_of(text):
    with pytest.raises(ProtocolError) as info:
        parse_request(text, max_bytes=MAX)
    return info.value.code


@pytest.mark.parametrize(
    "text, code",
    [
        ("{nope", "bad_json"),
        ("", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('"subscribe"', "bad_message"),
        ("{}", "bad_message"),
        ('{"type": 3}', "bad_message"),
        ('{"type": "explode"}', "unknown_type"),
        ('{"type": "subscribe"}', "bad_message"),
        ('{"type": "subscribe", "topic": 42}', "bad_message"),
        ('{"type": "subscribe", "topic": "stream.1", "since": "5"}', "bad_message"),
        ('{"type": "subscribe", "topic": "stream.1", "since": true}', "bad_message"),
        ('{"type": "subscribe", "topic": "stream.1", "since": -1}', "bad_message"),
        ('{"type": "publish", "topic": "stream.1"}', "bad_message"),
        ('{"type": "publish", "topic": "stream.1", "event": ""}', "bad_message"),
        ('{"type": "publish", "topic": "stream.1", "event": "comment", "data": [1]}', "bad_message"),
        ('{"type": "ping", "ref": 7}', "bad_message"),
        ('{"type": "ping", "ref": "' + "r" * 65 + '"}', "bad_message"),
        ("[" * 100000, "frame_too_large"),
        ('{"type": "ping", "pad": "' + "é" * 600 + '"}', "frame_too_large"),  # 600 chars but 1200 bytes
    ],
)
def test_bad_frames_get_stable_codes(text, code):
    assert code_of(text) == code


def test_deeply_nested_json_within_size_is_refused_not_crashing():
    assert code_of("[" * 900) in {"bad_json", "bad_message"}


def test_binary_frames_are_refused():
    assert code_of(None) == "bad_message"


def test_valid_requests_parse():
    request = parse_request('{"type":"subscribe","topic":"stream.1","since":4,"ref":"a"}', max_bytes=MAX)
    assert (request.type, request.topic, request.since, request.ref) == ("subscribe", "stream.1", 4, "a")
    request = parse_request(
        '{"type":"publish","topic":"stream.1","event":"comment","data":{"x":1}}', max_bytes=MAX
    )
    assert (request.event, request.data) == ("comment", {"x": 1})
    assert parse_request('{"type":"ping"}', max_bytes=MAX).type == "ping"


def test_batches_join_encoded_events_without_reencoding():
    one = event_envelope("stream.1", "comment", {"t": "<b>"}, id=1)
    two = event_envelope("stream.1", "comment", {"t": "é"}, id=2)
    import json

    frame = json.loads(batch_envelope([one, two]))
    assert frame == {"type": "batch", "messages": [json.loads(one), json.loads(two)]}
    assert "é" in two  # not escaped: fewer bytes to every viewer


# -- a refused frame's `ref` --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, code",
    [
        ('{"ref": "r1"}', "bad_message"),
        ('{"type": 3, "ref": "r1"}', "bad_message"),
        ('{"type": "explode", "ref": "r1"}', "unknown_type"),
        ('{"type": "subscribe", "ref": "r1"}', "bad_message"),
        ('{"type": "subscribe", "ref": "r1", "topic": "stream.1", "since": -1}', "bad_message"),
        ('{"type": "publish", "ref": "r1", "topic": "stream.1", "event": ""}', "bad_message"),
        ('{"type": "publish", "ref": "r1", "topic": "stream.1", "event": "c", "data": 1}', "bad_message"),
        (
            '{"type": "publish", "ref": "r1", "topic": "stream.1", "event": "c", "data": {"t": "\\ud800"}}',
            "bad_message",
        ),
    ],
)
def test_a_malformed_object_with_a_valid_ref_is_refused_with_that_ref(text, code):
    """A client waiting on `ref` learns why, instead of timing out."""
    with pytest.raises(MalformedRequest) as info:
        parse_request(text, max_bytes=MAX)
    assert (info.value.code, info.value.ref) == (code, "r1")
    envelope = json.loads(error(info.value, ref=info.value.ref))
    assert envelope["ref"] == "r1" and envelope["code"] == code


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "ping", "ref": 7}',  # not a string: there is no ref to answer
        '{"type": "ping", "ref": "' + "r" * 65 + '"}',
        '{"type": "ping", "ref": "\\ud800"}',  # not text: it could not be echoed
        '["ref", "r1"]',
        '{"ref": "r1"',
        '{"type": "ping", "ref": "r1", "pad": "' + "p" * MAX + '"}',  # too large to be read at all
        '{"type": "subscribe"}',  # no ref given
    ],
)
def test_a_frame_without_a_readable_ref_is_refused_without_one(text):
    with pytest.raises(ProtocolError) as info:
        parse_request(text, max_bytes=MAX)
    assert not isinstance(info.value, MalformedRequest)


async def test_real_daphne_answers_malformed_requests_with_their_ref(daphne_server):
    """Through autobahn and the real handshake: each refusal names the request it answers, so a client
    matching answers by `ref` (realtime.js, realtime.client) settles the request instead of timing out."""
    from tests.wsclient import WsClient

    frames = {
        "a": '{"type":"nope","ref":"a"}',
        "b": '{"type":"subscribe","ref":"b","topic":5}',
        "c": '{"type":"publish","ref":"c","topic":"stream.1","event":"comment","data":[]}',
        "d": '{"type":"ping","ref":"d","pad":"\\ud83d"}',
    }
    async with WsClient(daphne_server.ws_url) as client:
        for ref, frame in frames.items():
            await client.socket.send(frame)
            answer = await client.receive_where(type="error")
            assert answer.get("ref") == ref, answer
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    assert "Traceback" not in daphne_server.output()
