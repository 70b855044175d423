"""The admin's compose form: the model's fields, the stream as a choice of streams (when the streams
app is installed), and the audience's choices checked together."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.utils.translation import gettext_lazy as _

from .audience import validate_choices
from .models import Announcement, Audience, streams_installed

MAX_STREAM_CHOICES = 500


class AnnouncementForm(forms.ModelForm):
    class Meta:
        model = Announcement
        fields = [
            "title",
            "body",
            "link",
            "level",
            "dismissible",
            "audience",
            "groups",
            "users",
            "stream_id",
            "starts_at",
            "ends_at",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("stream_id")
        if field is not None and streams_installed() and not field.disabled:
            Stream = apps.get_model("realtime_streams", "Stream")
            rows = Stream._default_manager.order_by("-pk").values_list("pk", "title")[:MAX_STREAM_CHOICES]
            self.fields["stream_id"] = forms.TypedChoiceField(
                label=_("Stream"),
                required=False,
                coerce=int,
                empty_value=None,
                help_text=field.help_text,
                choices=[("", "---------"), *[(pk, f"{title} (#{pk})") for pk, title in rows]],
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        audience = data.get("audience", getattr(self.instance, "audience", Audience.EVERYONE))
        if "audience" in self.fields:
            try:
                validate_choices(audience, data.get("groups") or [], data.get("users") or [])
            except forms.ValidationError as exc:
                self.add_error(None, exc)  # a dict of field errors: each goes to its field
        return data
