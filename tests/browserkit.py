"""Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright (a browser download
at run time fails here), with the flags that keep it off the network; and what the browser test modules
share: their fixtures (importing `no_hub_reset` and `module_browser` into a test module gives it
`_fresh_realtime` and `browser`), signing in through the login page, and opening people that are closed
(their JS errors checked) at the end."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

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


@pytest.fixture(autouse=True, name="_fresh_realtime")
def no_hub_reset() -> Iterator[None]:
    """Replaces conftest's reset of the in-process hub: the server under test is a daphne subprocess (or
    a scripted route), and Playwright's sync API keeps its own event loop in this thread."""
    yield


@pytest.fixture(scope="module", name="browser")
def module_browser() -> Iterator[Any]:
    """One Chromium for the module; each person opens a context of their own in it."""
    with chromium() as launched:
        yield launched


def log_in(page: Any, base_url: str, username: str, password: str = "demo") -> None:
    """Sign in through the site's login form, as a person does; the session cookie lands in the page's
    context. The demo's users have the password 'demo'."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base_url}/")


class Person:
    """One person: a browser context of their own (cookies, storage), one tab, its JavaScript errors;
    signed in as `username` (password 'demo') if given. close() fails the test on any JS error."""

    def __init__(
        self,
        browser: Any,
        base_url: str,
        username: str | None = None,
        *,
        viewport: tuple[int, int] = (1280, 800),
        timeout: float = 10000,
    ) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.context.set_default_timeout(timeout)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        if username:
            log_in(self.page, base_url, username)

    def live(self, path: str = "/") -> Person:
        """Open `path` and wait until the page's realtime connection is live."""
        self.page.goto(f"{self.base_url}{path}")
        self.page.wait_for_function("() => window.realtime && window.realtime.connect().state === 'live'")
        return self

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


@contextlib.contextmanager
def opening(make: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """For a `people` fixture: yields `make`, remembering what it made, and closes each one on exit (a
    person's close() checks the page had no JavaScript errors)."""
    opened: list[T] = []

    def open_one(*args: Any, **kwargs: Any) -> T:
        made = make(*args, **kwargs)
        opened.append(made)
        return made

    yield open_one
    for made in opened:
        made.close()
