"""The Prometheus endpoint: `ops/metrics/`, for staff sessions and scrapers holding the token.

Not public by default: counts of connections and errors tell an attacker how a site is doing. A staff
session may read it in a browser; a scraper sends `Authorization: Bearer <REALTIME["METRICS_TOKEN"]>`
(docs/operations.md has the scrape config). Anyone else gets 401 (403 for a signed-in non-staff user).
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from ..conf import realtime_settings
from . import metrics

__all__ = ["metrics_view"]


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus' text format, merged over every process (multiprocess mode)."""
    if not realtime_settings.METRICS:
        return JsonResponse(
            {"error": "metrics_off", "message": "Metrics are off: REALTIME['METRICS'] is False."}, status=404
        )
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    metrics.current()  # this process's metrics exist (zeros included) even if nothing happened yet
    directory = metrics.multiprocess_dir()
    if directory:
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = realtime_settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header[len("Bearer ") :].strip().encode(), str(token).encode()):
            return None
        return JsonResponse({"error": "forbidden", "message": "Wrong metrics token."}, status=403)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return None
    if user is not None and user.is_authenticated:
        return JsonResponse(
            {"error": "forbidden", "message": "Only staff users (or a scraper with the token) read metrics."},
            status=403,
        )
    response = JsonResponse(
        {
            "error": "auth_required",
            "message": "Log in as staff, or send Authorization: Bearer <REALTIME['METRICS_TOKEN']>.",
        },
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="realtime metrics"'
    return response
