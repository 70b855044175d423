"""Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright (a browser download
at run time fails here), with the flags that keep it off the network."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Any]:
    """A launched Chromium, closed on exit."""
    from playwright import sync_api

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (never `playwright install` here).")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS + list(extra_args or []))
        try:
            yield browser
        finally:
            browser.close()
