"""parse_request: every client frame ends in a Request or a ProtocolError with a stable code."""

import pytest

from realtime.exceptions import ProtocolError
from realtime.protocol import batch_envelope, event_envelope, parse_request

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
