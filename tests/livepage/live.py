"""The page's live views (found by realtime.live as admin.py is by the admin)."""

from __future__ import annotations

from typing import Any

from realtime import live
from tests.liveapp.models import Gauge


def summary(audience: str) -> dict[str, Any]:
    gauges = Gauge.objects.filter(open=True)
    top = gauges.order_by("-value", "pk").first()
    return {"open": gauges.count(), "top": top.name if top else ""}


live.fragment("page-gauge", model=Gauge, template="livepage/gauge.html")
live.rows(
    "page-table",
    model=Gauge,
    template="livepage/row.html",
    queryset=lambda audience: Gauge.objects.filter(open=True).order_by("-value", "pk"),
    cap=5,
)
live.value("page-summary", compute=summary, depends_on=[Gauge])
