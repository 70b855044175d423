"""The admin in Simplified Chinese names every model of realtime's apps in Chinese: a model without a
translated verbose name shows Django's English fallback ("Events") in the middle of a Chinese page."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.utils import translation


def _realtime_models():
    return [model for model in admin.site._registry if model._meta.app_config.name.startswith("realtime")]


def test_every_realtime_model_in_the_admin_has_a_chinese_name():
    untranslated = []
    for model in _realtime_models():
        for name in ("verbose_name", "verbose_name_plural"):
            with translation.override("en"):
                english = str(getattr(model._meta, name))
            with translation.override("zh-hans"):
                chinese = str(getattr(model._meta, name))
            if chinese == english:
                untranslated.append(f"{model._meta.label}.{name} = {english!r}")
    assert _realtime_models() and untranslated == [], untranslated


@pytest.mark.django_db
def test_the_chinese_admin_index_says_events_in_chinese(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get("/admin/", headers={"accept-language": "zh-hans"}).content.decode()
    assert "实时" in page  # the app's section
    assert "事件" in page and ">Events<" not in page
