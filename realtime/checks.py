"""System checks: catch a half-finished installation at `manage.py check` time, with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from .layers import sentinel_errors


@checks.register(checks.Tags.compatibility)
def check_installation(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if not getattr(settings, "ASGI_APPLICATION", None):
        errors.append(
            checks.Error(
                "ASGI_APPLICATION is not set, so WebSockets are not served.",
                hint="Set ASGI_APPLICATION = 'yourproject.asgi.application' and mount "
                "realtime.asgi.websocket_application() for 'websocket' in that module.",
                id="realtime.E001",
            )
        )
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default")
    if not default or not default.get("BACKEND"):
        errors.append(
            checks.Error(
                "No default channel layer is configured; realtime's hubs talk through it.",
                hint="Add CHANNEL_LAYERS = {'default': realtime.layers.memory_layer()} for one process, or "
                "{'default': realtime.layers.redis_layer(REDIS_URL)} for several.",
                id="realtime.E002",
            )
        )
    elif default["BACKEND"].endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(
            checks.Warning(
                "The in-memory channel layer serves one process only: with several daphne processes, "
                "clients on one do not see events published on another.",
                hint="Use realtime.layers.redis_layer(REDIS_URL) in production (set REDIS_URL).",
                id="realtime.W001",
            )
        )
    elif default["BACKEND"].endswith("RedisChannelLayer"):
        errors += sentinel_errors((default.get("CONFIG") or {}).get("hosts", []))  # realtime.E012
        for host in (default.get("CONFIG") or {}).get("hosts", []):
            if not isinstance(host, dict) or "socket_timeout" not in host:
                errors.append(
                    checks.Warning(
                        "A channels-redis host has no explicit socket_timeout; redis-py 8 defaults to 5 s, "
                        "which breaks the layer's blocking reads when it is idle.",
                        hint="Build the layer with realtime.layers.redis_layer(url).",
                        id="realtime.W002",
                    )
                )
                break
    if "channels" not in settings.INSTALLED_APPS:
        errors.append(
            checks.Error(
                "'channels' is not in INSTALLED_APPS.",
                hint="Add 'daphne' (first) and 'channels' to INSTALLED_APPS.",
                id="realtime.E003",
            )
        )
    options = settings.DATABASES.get("default", {})
    if (
        options.get("ENGINE", "").endswith("sqlite3")
        and (options.get("OPTIONS") or {}).get("transaction_mode") != "IMMEDIATE"
    ):
        errors.append(
            checks.Warning(
                "SQLite without transaction_mode='IMMEDIATE': concurrent comment posts can fail with "
                "'database is locked'.",
                hint="Set DATABASES['default']['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}.",
                id="realtime.W003",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_features(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    installed = settings.INSTALLED_APPS
    for feature in ("realtime.streams",):
        if feature in installed and "realtime" not in installed:
            errors.append(
                checks.Error(
                    f"'{feature}' is installed without the core app 'realtime'.",
                    hint=f"Add 'realtime' to INSTALLED_APPS, before '{feature}'.",
                    id="realtime.E005",
                )
            )
    return errors


def _find(app: Any, wanted: Any, depth: int = 0) -> Any:
    """Walk an ASGI application's wrappers (routers, middleware) for one that `wanted(app)` accepts."""
    if app is None or depth > 12:
        return None
    if wanted(app):
        return app
    children: list[Any] = []
    mapping = getattr(app, "application_mapping", None)  # channels' ProtocolTypeRouter
    if isinstance(mapping, dict):
        children += list(mapping.values())
    for name in ("application", "inner", "app", "with_session"):
        child = getattr(app, name, None)
        if child is not None and child is not app:
            children.append(child)
    for child in children:
        found = _find(child, wanted, depth + 1)
        if found is not None:
            return found
    return None


def _protocol_app(application: Any, protocol: str) -> Any:
    mapping = getattr(application, "application_mapping", None)
    return mapping.get(protocol) if isinstance(mapping, dict) else None


@checks.register(checks.Tags.compatibility)
def check_mounting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """What the tutorial's reader gets wrong: the socket, the static files and the ticket URLs."""
    errors: list[checks.CheckMessage] = []
    path = getattr(settings, "ASGI_APPLICATION", None)
    if path:
        try:
            application = import_string(path)
        except Exception as exc:  # the project's own module: say what failed, do not crash `check`
            errors.append(
                checks.Warning(
                    f"ASGI_APPLICATION {path!r} could not be imported to check it ({exc}).",
                    hint="Fix the import error; `daphne` would fail the same way.",
                    id="realtime.W004",
                )
            )
        else:
            errors += _check_application(application, path)
    try:
        reverse("realtime:ticket")
    except NoReverseMatch:
        errors.append(
            checks.Warning(
                "realtime's HTTP URLs are not included, so non-browser clients cannot get a ticket.",
                hint='Add path("realtime/", include("realtime.urls")) to your ROOT_URLCONF.',
                id="realtime.W006",
            )
        )
    if "*" in settings.ALLOWED_HOSTS and not settings.DEBUG:
        errors.append(
            checks.Warning(
                "ALLOWED_HOSTS contains '*': any Host header is accepted, and the WebSocket origin check can "
                "only compare an Origin with the host the request claims to be for.",
                hint="List your site's hosts in ALLOWED_HOSTS (and, for pages on other origins, "
                "REALTIME['ALLOWED_ORIGINS'] or CSRF_TRUSTED_ORIGINS).",
                id="realtime.W007",
            )
        )
    return errors


def _check_application(application: Any, path: str) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if _find(application, lambda app: getattr(app, "realtime_websocket", False)) is None:
        errors.append(
            checks.Error(
                f"The realtime WebSocket route is not mounted in {path}.",
                hint='Use ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()}) '
                "with `from realtime.asgi import websocket_application`.",
                id="realtime.E006",
            )
        )
    if settings.DEBUG and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        http = _protocol_app(application, "http") or application
        if _find(http, lambda app: isinstance(app, ASGIStaticFilesHandler)) is None:
            errors.append(
                checks.Warning(
                    "Under daphne, static files (realtime.js, the widget's CSS) are not served: the page's "
                    "client never loads and stays on 'Connecting...'.",
                    hint="In DEBUG, wrap the HTTP app: `from django.contrib.staticfiles.handlers import "
                    'ASGIStaticFilesHandler`; "http": ASGIStaticFilesHandler(django_asgi_app). In '
                    "production serve STATIC_ROOT from your web server or whitenoise.",
                    id="realtime.W005",
                )
            )
    return errors


# The distribution this app is published as. Its import name, `realtime`, is also the import name of an
# unrelated, popular distribution (`realtime`, a hosted service's Python client): pip installs both into
# the same site-packages/realtime/ folder, so one overwrites the other's files without a word.
DISTRIBUTION = "django-realtime-hub"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@checks.register(checks.Tags.compatibility)
def check_import_name_clash(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Another installed distribution that provides a top-level `realtime` module, or a `realtime`
    package that is not this one: both break in ways that look like bugs of ours."""
    import importlib
    from importlib.metadata import packages_distributions

    errors: list[checks.CheckMessage] = []
    providers = packages_distributions().get("realtime", [])
    others = sorted({name for name in providers if _canonical(name) != DISTRIBUTION})
    if others:
        errors.append(
            checks.Warning(
                f"Installed distribution(s) {', '.join(others)} also provide the top-level module "
                f"'realtime', which {DISTRIBUTION} (this app) is imported as: they share one folder, and "
                "installing or upgrading either overwrites the other's files.",
                hint=f"Uninstall the other one (pip uninstall {others[0]}) or keep the two in separate "
                f"virtualenvs, then reinstall {DISTRIBUTION}.",
                id="realtime.W010",
            )
        )
    package = importlib.import_module("realtime")
    # This module is realtime/checks.py: the `realtime` that Python imports must be the folder around it
    # (not one earlier on sys.path), and its __init__.py ours, with the public API (not one that another
    # distribution wrote over ours in the same folder).
    where = getattr(package, "__file__", None)
    same_folder = where is not None and Path(where).resolve().parent == Path(__file__).resolve().parent
    if not (same_folder and "broadcast" in getattr(package, "__all__", ())):
        errors.append(
            checks.Error(
                f"The module imported as 'realtime' ({where}) is not "
                f"{DISTRIBUTION}'s: another distribution's files replaced this app's.",
                hint=f"pip uninstall the other distribution that provides 'realtime', then "
                f"pip install --force-reinstall {DISTRIBUTION}.",
                id="realtime.E010",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_server_versions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """daphne, Twisted or autobahn outside the range realtime's shortcuts into them were tested on."""
    from . import compat

    untested = compat.untested_versions()
    if not untested:
        return []
    pins = " ".join(f"'{name}>={low},<{high}'" for name, (low, high) in sorted(compat.TESTED.items()))
    return [
        checks.Warning(
            f"realtime was not tested with {compat.describe(untested)}: its direct socket writes and "
            "server patches are off and the libraries' public paths are used (slower; a planned "
            "shutdown closes sockets with 1000 instead of 1001).",
            hint=f"Install tested releases (pip install {pins}) or a realtime release that supports "
            "these; silence realtime.W009 to accept the slower path.",
            id="realtime.W009",
        )
    ]
