"""The live declarations the tests use (found by realtime.live as admin.py is by the admin)."""

from __future__ import annotations

from typing import Any

from realtime import live

from .models import Gauge


def audience(user: Any) -> str:
    return "staff" if getattr(user, "is_staff", False) else "all"


def total(audience: str) -> dict[str, Any]:
    gauges = Gauge.objects.filter(open=True)
    names = sorted(gauges.values_list("name", flat=True))
    return {
        "open": len(names),
        "total": sum(gauges.values_list("value", flat=True)),
        "names": names[:3],
        "audience": audience,
    }


live.register(Gauge, fields=["name", "value", "open"])
live.fragment("gauge-card", model=Gauge, template="liveapp/card.html", audience=audience)
# A translated word ("Yes" is in Django's own catalogues): which language a room renders in.
live.fragment("gauge-word", model=Gauge, template="liveapp/lang.html")
live.rows(
    "open-gauges",
    model=Gauge,
    template="liveapp/row.html",
    queryset=lambda audience: Gauge.objects.filter(open=True).order_by("-value", "pk"),
    cap=3,
    audience=audience,
)
live.value("gauge-total", compute=total, depends_on=[Gauge], audience=audience)


#: What the periodic value reads: a figure no model change announces (tests set it).
TICKS = {"now": 0, "computed": 0}


def tick(audience: str) -> dict[str, Any]:
    TICKS["computed"] += 1
    return {"now": TICKS["now"]}


live.value("gauge-tick", compute=tick, every=0.2, can_view=lambda user: True)


def own(user: Any) -> str:
    return f"u{user.pk}" if getattr(user, "is_authenticated", False) else "anon"


# Per-user objects: each user's audience sees the gauges named after it, and no other.
live.fragment(
    "own-card",
    model=Gauge,
    template="liveapp/card.html",
    audience=own,
    queryset=lambda audience: Gauge.objects.filter(name=audience),
)
