"""Upgrading from 0.1, when live streams were models of the core `realtime` app, to `realtime.streams`.

`realtime_streams.0001` takes the tables over without touching them and renames their content types,
so existing rows, the `moderate_stream` permission and who holds it all survive, both ways. Each test
leaves the database fully migrated, whatever happens, for the tests after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps.registry import Apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("realtime", "0001_initial"), ("realtime_streams", None)]
MOVED = ["stream", "comment", "streamrestriction", "reactiontotal"]


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()  # ids are unchanged, but a cached app_label would be stale


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def old_models() -> Apps:
    """The models as 0.1 had them: `realtime.Stream`, `realtime.Comment`, ..."""
    return MigrationExecutor(connection).loader.project_state([("realtime", "0001_initial")]).apps


@pytest.fixture
def fully_migrated_after() -> Iterator[None]:
    try:
        yield
    finally:
        migrate(latest())


def content_type_labels() -> set[str]:
    return set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True))


def moderate_permission() -> Permission:
    return Permission.objects.select_related("content_type").get(codename="moderate_stream")


def test_upgrading_keeps_the_rows_the_permission_and_who_holds_it(fully_migrated_after, owner, alice, bob):
    migrate(BEFORE)
    assert content_type_labels() == {"realtime"}  # what a 0.1 database has
    old = old_models()
    stream = old.get_model("realtime", "Stream").objects.create(title="Old", slug="old", owner_id=owner.pk)
    old.get_model("realtime", "Comment").objects.create(
        stream_id=stream.pk, author_id=alice.pk, seq=1, client_id="c1", text="from 0.1"
    )
    old.get_model("realtime", "StreamRestriction").objects.create(
        stream_id=stream.pk, user_id=alice.pk, kind="ban"
    )
    permission = moderate_permission()
    assert permission.content_type.app_label == "realtime"
    bob.user_permissions.add(permission)
    assert get_user_model().objects.get(pk=bob.pk).has_perm("realtime.moderate_stream")

    migrate(latest())

    from realtime.streams.models import MODERATE_PERMISSION, Comment, Stream, StreamRestriction

    stream = Stream.objects.get(slug="old")
    assert stream.owner == owner
    assert Comment.objects.get(stream=stream).text == "from 0.1"
    assert StreamRestriction.objects.get(stream=stream, user=alice).kind == StreamRestriction.Kind.BAN
    assert content_type_labels() == {"realtime_streams"}
    assert moderate_permission().pk == permission.pk  # the same row: nobody loses it
    assert MODERATE_PERMISSION == "realtime_streams.moderate_stream"
    bob = get_user_model().objects.get(pk=bob.pk)
    assert bob.has_perm(MODERATE_PERMISSION) and not bob.has_perm("realtime.moderate_stream")
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # SystemExit(1) if not


def test_downgrading_gives_0_1_its_models_back(fully_migrated_after, owner, alice, bob):
    from realtime.streams.models import Comment, Stream

    stream = Stream.objects.create(title="New", slug="new", owner=owner)
    Comment.objects.create(stream=stream, author=alice, seq=1, client_id="c1", text="from 0.2")
    bob.user_permissions.add(moderate_permission())

    migrate(BEFORE)

    old = old_models()
    assert old.get_model("realtime", "Stream").objects.get(slug="new").owner_id == owner.pk
    assert old.get_model("realtime", "Comment").objects.get(stream_id=stream.pk).text == "from 0.2"
    assert content_type_labels() == {"realtime"}
    assert get_user_model().objects.get(pk=bob.pk).has_perm("realtime.moderate_stream")

    migrate(latest())
    assert content_type_labels() == {"realtime_streams"}
    assert get_user_model().objects.get(pk=bob.pk).has_perm("realtime_streams.moderate_stream")
