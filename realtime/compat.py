"""The releases of daphne, Twisted and autobahn that realtime's shortcuts into their internals were
tested on, and the switch that turns each shortcut off outside them.

Three things reach past the server libraries' public API, for speed or for a close code:

- the direct-socket writer (`realtime.writers`): reads and trims Twisted's TCP buffers and writes
  autobahn's frames straight to the socket (`"direct_writes"`: Twisted and autobahn);
- the server patches (`realtime.serverpatch`): autobahn's module-level `pformat` (`"lazy_autobahn_log"`)
  and daphne's `Server.create_application` (`"daphne_inbox"`);
- the close with 1001 on a planned shutdown (`realtime.shutdown`): autobahn's `sendCloseFrame`, since
  its public `sendClose` allows only 1000 and 3000-4999 (`"going_away_close"`).

A release that renamed a buffer attribute would make the direct writer send frames ahead of bytes
Twisted still holds: a corrupt stream, silently. So each shortcut runs only when every library it
touches is inside `TESTED`; otherwise the public path is used (autobahn's `sendMessage`, daphne's own
queue, close 1000), one warning is logged and system check `realtime.W009` says so. Slower, never wrong.

The oldest end of each range is what `bin/test-oldest` installs, the newest what the main test run has;
widen a range only after both runs pass on the new release.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re

logger = logging.getLogger("realtime.compat")

#: distribution -> (oldest tested release, first release NOT tested). Patch releases of the newest
#: tested minor are included (`26.10.x` for Twisted); a new minor or major is not until it is tested.
TESTED: dict[str, tuple[str, str]] = {
    "daphne": ("4.2.2", "4.3"),
    "twisted": ("24.7.0", "26.11"),
    "autobahn": ("24.4.2", "26.12"),
}

#: shortcut -> the libraries whose internals it touches.
SHORTCUTS: dict[str, tuple[str, ...]] = {
    "direct_writes": ("twisted", "autobahn"),
    "lazy_autobahn_log": ("autobahn",),
    "daphne_inbox": ("daphne",),
    "going_away_close": ("autobahn",),
}

# A plain release (`26.10.0`, `4.2.3.post1`): pre-releases and local builds count as untested.
_RELEASE = re.compile(r"(\d+(?:\.\d+)*)(?:\.post\d+)?")

_verdict: dict[str, bool] | None = None


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution`, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def in_tested_range(distribution: str, version: str) -> bool:
    oldest, first_untested = TESTED[distribution]
    match = _RELEASE.fullmatch(version)
    return match is not None and _release(oldest) <= _release(match[1]) < _release(first_untested)


def untested_versions() -> dict[str, str]:
    """The server libraries installed at a version outside `TESTED` (name -> version)."""
    found = {}
    for distribution in TESTED:
        version = installed_version(distribution)
        if version is not None and not in_tested_range(distribution, version):
            found[distribution] = version
    return found


def describe(untested: dict[str, str]) -> str:
    """One sentence naming each untested release and the range that was tested."""
    return "; ".join(
        f"{name} {version} (tested: >={TESTED[name][0]},<{TESTED[name][1]})"
        for name, version in sorted(untested.items())
    )


def allows(shortcut: str) -> bool:
    """Whether `shortcut` (a key of SHORTCUTS) may run: every library it touches is a tested release.

    Decided once per process; the first call that finds an untested release logs the one warning.
    """
    global _verdict
    if _verdict is None:
        untested = untested_versions()
        _verdict = {
            name: not any(library in untested for library in libraries)
            for name, libraries in SHORTCUTS.items()
        }
        if untested:
            off = ", ".join(name for name, allowed in _verdict.items() if not allowed)
            logger.warning(
                "realtime was not tested with %s, so these shortcuts into the server libraries' internals "
                "are off and their public paths are used: %s (slower, never wrong). Install a tested "
                "release or a realtime release that tests this one (manage.py check: realtime.W009).",
                describe(untested),
                off,
            )
    return _verdict[shortcut]


def forget() -> None:
    """Decide again on the next `allows()` (tests that change what `installed_version` reports)."""
    global _verdict
    _verdict = None
