"""Topic names: one canonical name per object, whatever the kind."""

import pytest
from django.contrib.auth.models import Group

from realtime.exceptions import ProtocolError
from realtime.testing import RealtimeClient
from realtime.topics import Topic, load_topic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def objects(alice, stream):
    """alice, a member of a group, with a stream to watch: the pk of each kind's object."""
    group = Group.objects.create(name="editors")
    alice.groups.add(group)
    return {"user": alice.pk, "group": group.pk, "stream": stream.pk}


KINDS = ["user", "group", "stream"]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_object_has_one_name(objects, kind):
    pk = objects[kind]
    assert (await load_topic(f"{kind}.{pk}")).name == f"{kind}.{pk}"
    for padded in (f"0{pk}", f"00{pk}"):
        with pytest.raises(ProtocolError) as info:
            await load_topic(f"{kind}.{padded}")
        assert info.value.code == "not_found"
        assert f"Use '{kind}.{pk}'" in info.value.message


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", ["0", "000", "-1", "-01", "1e3", "x1"])
async def test_zero_negative_and_non_numbers_are_no_ids(objects, kind, key):
    with pytest.raises(ProtocolError) as info:
        await load_topic(f"{kind}.{key}")
    assert info.value.code == "not_found"


def test_int_key_names_the_canonical_form_for_any_kind():
    class TeamTopic(Topic):
        kind = "team"

    assert TeamTopic.int_key("12", "team") == 12
    with pytest.raises(ProtocolError, match=r"Use 'team\.12'"):
        TeamTopic.int_key("012", "team")
    with pytest.raises(ProtocolError, match="must be a number"):
        TeamTopic.int_key("\u0661\u0662", "team")  # Arabic-Indic digits pass str.isdigit()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_cannot_subscribe_to_a_padded_name(objects, alice, kind):
    pk = objects[kind]
    async with RealtimeClient(user=alice) as client:
        reply = await client.subscribe(f"{kind}.0{pk}")
        assert (reply["type"], reply["code"]) == ("error", "not_found")
        assert f"Use '{kind}.{pk}'" in reply["message"]
        assert (await client.subscribe(f"{kind}.{pk}"))["type"] == "subscribed"


def test_the_kinds_follow_a_settings_change_and_a_registration():
    # topic_kinds() is kept between subscribes; a changed REALTIME["TOPICS"] or a (re-)registered kind
    # must show at once, or a project's override would be ignored until a restart.
    from django.test import override_settings

    from realtime.topics import registry
    from realtime.topics.builtin import BroadcastTopic, UserTopic

    assert registry.topic_kinds() is registry.topic_kinds()  # kept
    with override_settings(REALTIME={"TOPICS": {"team": "realtime.topics.builtin.UserTopic"}}):
        assert registry.topic_class("team") is UserTopic
    assert "team" not in registry.topic_kinds()
    previous = registry._registered.get("crew")
    try:
        registry.register_kind("crew", UserTopic)
        assert registry.topic_class("crew") is UserTopic
        registry.register_kind("crew", BroadcastTopic)  # the same kind, another class
        assert registry.topic_class("crew") is BroadcastTopic
    finally:
        registry._registered.pop("crew", None)
        if previous is not None:
            registry._registered["crew"] = previous
        registry._registrations += 1
