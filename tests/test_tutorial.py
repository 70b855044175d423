"""docs/tutorial.md, followed to the letter: its commands run as written in an empty directory (a new
virtualenv, `pip install django-realtime-hub`, a fresh `django-admin startproject`), the tutorial's
files (docs/tutorial/, the same files the page shows: docs/tutorial_code.py copies them in, and a test
here fails when the two drift) put where the page says, then daphne from that virtualenv and Debian
Chromium: the overlay connects, a signed-in viewer's comment reaches a second page, and a broadcast
and an announcement sent from another process (`manage.py shell`) arrive on the page.

The one thing that differs from a reader's machine is where pip finds the package: PIP_FIND_LINKS and
PIP_NO_INDEX point it at a folder holding the wheel built from this checkout and its dependencies
(tests/wheelkit.py), so the command's text and the name in it are the page's. `createsuperuser` is
answered in a terminal (a pseudo-terminal), as a reader types the password. daphne listens on the
page's port 8000 unless something else on this machine already does (then on a free port, said so).

The delays from the shell's `broadcast()`/`announce()` to the page are printed (run with -s to see
them) and saved with the screenshots under var/artifacts/tutorial/. On the tutorial's in-memory layer
they cross processes through the database (daphne's hub looks for new events every
REALTIME["WATCH_INTERVAL"], 1 s); the page says "within about a second", the test allows 10 s.

Each break of the tutorial tried so far fails here: the WebSocket route left out of asgi.py (migrate
refuses with realtime.E006; with that check silenced, the badge never reaches "live"), the static
files handler left out (404s for realtime.js, W005 in `check`), the database sync turned off (the
broadcast never arrives).
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.sitekit import READER_PORT, Daphne, readers_daphne
from tests.wheelkit import clean_env, from_wheelhouse, wheelhouse

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import chromium  # noqa: E402

expect = playwright_sync.expect

TUTORIAL = ROOT / "docs" / "tutorial.md"
SNIPPETS = ROOT / "docs" / "tutorial"
ARTIFACTS = ROOT / "var" / "artifacts" / "tutorial"  # git-ignored
PASSWORD = "tutorial-pw-1"
STREAM_PATH = "/streams/launch/"
CROSS_PROCESS_LIMIT = 10.0  # seconds; the page says what the reader sees

# The files the tutorial has the reader write, in its order: (what to do, snippet, path in the project).
FILES = [
    ("append", "settings_tail.py", "mysite/settings.py"),
    ("replace", "asgi.py", "mysite/asgi.py"),
    ("replace", "live/views.py", "live/views.py"),
    ("create", "live/urls.py", "live/urls.py"),
    ("replace", "urls.py", "mysite/urls.py"),
    ("create", "live/templates/live/base.html", "live/templates/live/base.html"),
    ("create", "live/templates/live/index.html", "live/templates/live/index.html"),
    ("create", "live/templates/live/stream.html", "live/templates/live/stream.html"),
    ("create", "live/templates/registration/login.html", "live/templates/registration/login.html"),
]
COMMANDS = ["install.sh", "migrate.sh", "check.sh", "shell.sh", "daphne.sh", "commands.sh"]
SHELL_INPUT = ["create_stream.py", "broadcast.py", "announce.py"]  # typed into `python manage.py shell`


def _tutorial_code():
    """docs/tutorial_code.py, the script that copies docs/tutorial/ into the page (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location("tutorial_code", ROOT / "docs" / "tutorial_code.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tutorial_code = _tutorial_code()


@pytest.fixture(autouse=True)
def _fresh_realtime():
    """Replaces conftest's async hub reset: the server under test is a daphne subprocess, and
    Playwright's sync API keeps an event loop running in this thread."""
    yield


def snippet(name: str) -> str:
    return (SNIPPETS / name).read_text()


def in_a_terminal(script: str, cwd: Path, env: dict[str, str], answers: list[tuple[str, str]]) -> str:
    """Run `script` in a pseudo-terminal (util-linux `script`), typing each answer once its prompt shows:
    getpass flushes what was typed before it asks, so answers cannot simply be piped in ahead."""
    command = ["script", "--quiet", "--return", "--command", f"bash -e -c {shlex.quote(script)}", "/dev/null"]
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdin and process.stdout
    output, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + 180
    while True:
        assert time.monotonic() < deadline, f"{script}\nhangs; so far:\n{output.decode(errors='replace')}"
        if select.select([process.stdout], [], [], 1)[0]:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            output += chunk
        if pending and pending[0][0].encode() in output[seen:]:
            prompt, answer = pending.pop(0)
            seen = output.index(prompt.encode(), seen) + len(prompt)
            process.stdin.write(answer.encode() + b"\n")
            process.stdin.flush()
    process.stdin.close()
    text = output.decode(errors="replace")
    assert process.wait(timeout=30) == 0 and not pending, f"{script}\nfailed (unanswered: {pending}):\n{text}"
    return text


@dataclass
class Tutorial:
    """The reader's directory (where they ran install.sh), the project in it, and their virtualenv."""

    home: Path
    house: Path  # where pip finds the package (tests/wheelkit.py)

    @property
    def venv(self) -> Path:
        return self.home / ".venv"

    @property
    def project(self) -> Path:
        return self.home / "mysite"

    @property
    def env(self) -> dict[str, str]:
        """The reader's shell after `source .venv/bin/activate` (its PATH and VIRTUAL_ENV)."""
        return clean_env(
            self.home,
            self.venv,
            VIRTUAL_ENV=str(self.venv),
            PYTHONUNBUFFERED="1",
            **from_wheelhouse(self.house),
        )

    def bash(self, script: str, cwd: Path, **extra: str) -> str:
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{script}\nfailed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def shell(self, code: str) -> str:
        """shell.sh (`python manage.py shell`) with `code` typed in: a separate process from daphne."""
        result = subprocess.run(
            ["bash", "-e", "-c", snippet("shell.sh")],
            input=code,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"manage.py shell failed on:\n{code}\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory) -> Tutorial:
    """Parts 1 to 5 of the tutorial, as written."""
    reader = Tutorial(home=tmp_path_factory.mktemp("reader"), house=wheelhouse(tmp_path_factory))
    # install.sh runs in the reader's empty directory (python3 from the system's PATH) and ends with
    # `cd mysite`: the rest runs there.
    installed = reader.bash(snippet("install.sh"), cwd=reader.home)
    assert "Successfully installed" in installed and "django-realtime-hub-0" in installed, installed
    assert (reader.project / "manage.py").exists() and (reader.project / "live" / "apps.py").exists()
    for action, name, destination in FILES:
        target = reader.project / destination
        if action == "append":
            assert target.exists(), destination
            target.write_text(target.read_text() + snippet(name))
        else:
            assert target.exists() == (action == "replace"), f"{destination}: the tutorial says {action}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(snippet(name))
    typed = [("Password: ", PASSWORD), ("Password (again): ", PASSWORD)]
    said = in_a_terminal(snippet("migrate.sh"), reader.project, reader.env, typed)
    assert "Superuser created successfully." in said, said
    reader.shell(snippet("create_stream.py"))
    return reader


@pytest.fixture(scope="module")
def daphne(tutorial) -> Iterator[Daphne]:
    """Part 6: `daphne -p 8000 mysite.asgi:application`, from the tutorial's virtualenv."""
    [command] = [line for line in snippet("daphne.sh").splitlines() if line.strip()]
    assert f"-p {READER_PORT} " in command, command
    with readers_daphne(command, tutorial.project, tutorial.env, tutorial.home / "daphne.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as launched:
        yield launched


class Reader:
    """One browser of the reader's: a context of its own (cookies), one tab, its JavaScript errors."""

    def __init__(self, browser, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.context.set_default_timeout(10000)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.frames: list[str] = []  # what the page's sockets received
        self.page.on("websocket", lambda ws: ws.on("framereceived", lambda f: self.frames.append(str(f))))
        # Every script and style sheet loads (a browser's own /favicon.ico request aside).
        self.page.on(
            "response",
            lambda r: (
                r.status >= 400 and "favicon" not in r.url and self.errors.append(f"{r.status} {r.url}")
            ),
        )

    def open(self, path: str) -> Reader:
        self.page.goto(self.base_url + path)
        return self

    def expect_live(self) -> None:
        """The connection badge says the socket is up (realtime.js loaded, the handshake accepted)."""
        expect(self.page.locator("[data-rt-connection]")).to_have_attribute("data-state", "live")

    def expect_subscribed(self, topic: str, timeout: float = 10.0) -> None:
        """Wait for the server's `subscribed` answer on `topic` (from then on, nothing sent is missed)."""
        deadline = time.monotonic() + timeout
        while not any('"subscribed"' in f and f'"{topic}"' in f for f in self.frames):
            assert time.monotonic() < deadline, f"never subscribed to {topic}: {self.frames}"
            self.page.wait_for_timeout(50)

    def box(self, selector: str) -> dict[str, float]:
        box = self.page.locator(selector).first.bounding_box()
        assert box is not None, f"{selector} is not displayed"
        return box

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    def watch_for(self, name: str, selector: str, text: str) -> None:
        """Record (page clock, ms) when `selector` first shows `text`, whenever that happens."""
        self.page.evaluate(WATCH, [name, selector, text])

    def arrival(self, name: str, timeout: float) -> float:
        """When the watched text appeared, in seconds since the epoch."""
        try:
            self.page.wait_for_function("name => name in window.arrivals", arg=name, timeout=timeout * 1000)
        except playwright_sync.TimeoutError:
            pytest.fail(f"{name}: not on the page {timeout} s after it was sent")
        return self.page.evaluate("name => window.arrivals[name]", name) / 1000

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


FLOWN_IN = """(text) => {
  const overlay = document.querySelector('.rt-overlay').getBoundingClientRect();
  return [...document.querySelectorAll('.rt-overlay .rt-danmaku')].some((n) => {
    const r = n.getBoundingClientRect();
    return n.textContent.includes(text) && r.left > overlay.left && r.right < overlay.right - 40;
  });
}"""

WATCH = """([name, selector, text]) => {
  window.arrivals = window.arrivals || {};
  const shown = () => [...document.querySelectorAll(selector)].some(
    (n) => n.textContent.includes(text) && !n.closest('[hidden]') && n.getBoundingClientRect().height > 0);
  const note = () => { if (!(name in window.arrivals) && shown()) window.arrivals[name] = Date.now(); };
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
  note();
}"""


@pytest.fixture
def readers(browser, daphne) -> Iterator:
    expect.set_options(timeout=10_000)  # a loaded CI machine; Playwright's default is 5 s
    opened: list[Reader] = []

    def open_reader() -> Reader:
        reader = Reader(browser, daphne.url)
        opened.append(reader)
        return reader

    yield open_reader
    expect.set_options(timeout=5_000)
    for reader in opened:
        reader.close()


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


# -- the page and its files ---------------------------------------------------------------------------
def marker(name: str) -> str:
    return f"<!-- code: docs/tutorial/{name} -->"


def test_the_page_shows_the_code_of_the_files_the_test_runs():
    """docs/tutorial.md holds each file's text (readable on a code host), equal to the file's today."""
    page = TUTORIAL.read_text()
    assert "--8<--" not in page, "an include marker: the page must show its code, not a reference to it"
    assert tutorial_code.render(page) == page, (
        "docs/tutorial.md and docs/tutorial/ differ: run python docs/tutorial_code.py"
    )
    # The blocks really hold the files (not only markers): each file's first line follows its marker.
    for path in tutorial_code.included(page):
        first = (ROOT / path).read_text().splitlines()[0]
        after = page[page.index(f"<!-- code: {path} -->") :]
        assert first in after.split("```", 2)[1], path


def test_the_drift_check_notices_an_edited_block():
    page = TUTORIAL.read_text()
    edited = page.replace("django-admin startproject mysite\n", "django-admin startproject othersite\n", 1)
    assert edited != page and tutorial_code.render(edited) == page


def test_the_tutorial_includes_every_file_the_test_uses_and_says_where_it_goes():
    page = TUTORIAL.read_text()
    used = {name for _, name, _ in FILES} | set(COMMANDS) | set(SHELL_INPUT)
    on_disk = {str(p.relative_to(SNIPPETS)) for p in SNIPPETS.rglob("*") if p.is_file()}
    included = {path.removeprefix("docs/tutorial/") for path in tutorial_code.included(page)}
    assert on_disk == used, f"files in docs/tutorial/ this test does not apply: {on_disk ^ used}"
    assert included == used, f"files the tutorial does not include: {used - included}"
    positions = [page.index(marker(name)) for _, name, _ in FILES]
    assert positions == sorted(positions), "FILES is not in the tutorial's order"
    for action, name, destination in FILES:
        # The sentence before the snippet names the file and what to do with it.
        before = page[: page.index(marker(name))]
        lead_in = before[before.rindex("\n\n", 0, len(before) - 2) :]
        assert f"`{destination}`" in lead_in or f"`mysite/{destination}`" in lead_in, (name, lead_in)
        verb = {"append": "end of", "replace": "Replace", "create": "Create"}[action]
        assert verb.lower() in lead_in.lower(), (name, verb, lead_in)


def test_manage_py_check_finds_nothing_to_fix(tutorial):
    output = tutorial.bash(snippet("check.sh"), cwd=tutorial.project).strip()
    assert output == "System check identified no issues (0 silenced).", output
    assert output in TUTORIAL.read_text()


# -- in Chromium ------------------------------------------------------------------------------------------
def test_the_overlay_goes_live_and_a_comment_reaches_another_page(readers):
    viewer = readers().open(STREAM_PATH)  # not signed in
    viewer.expect_live()
    expect(viewer.page.locator("h1")).to_have_text("Launch party")
    expect(viewer.page.locator("[data-rt-connection]")).to_have_text("Chat connected")
    expect(viewer.page.locator("[data-rt-live]")).to_have_text("Live")
    expect(viewer.page.locator(".rt-signin")).to_have_text("Log in to comment and react.")

    # The "Log in" link under the chat works, and brings the reader back to the stream.
    author = readers().open(STREAM_PATH)
    author.page.click(".rt-signin a")
    assert author.page.url.startswith(f"{author.base_url}/accounts/login/"), author.page.url
    author.page.fill("#id_username", "admin")
    author.page.fill("#id_password", PASSWORD)
    author.page.click("main button[type=submit]")
    author.page.wait_for_url(author.base_url + STREAM_PATH)
    author.expect_live()
    expect(author.page.locator("body > header")).to_contain_text("Signed in as admin")
    for reader in (viewer, author):
        expect(reader.page.locator("[data-rt-viewers]")).to_have_text("2")

    text = "Hello from the tutorial"
    author.page.fill("input[name=text]", text)
    author.page.press("input[name=text]", "Enter")

    for reader in (viewer, author):
        expect(reader.page.locator(".rt-comments .rt-comment__text", has_text=text)).to_be_visible()
        flying = reader.page.locator(".rt-overlay .rt-danmaku", has_text=text)
        expect(flying).to_be_visible()
        # Styled (the static files are served): the overlay covers the player and the comment is on it.
        player, overlay = reader.box("[data-rt-player]"), reader.box(".rt-overlay")
        assert overlay["height"] > 100 and inside(overlay, player), (overlay, player)
        # Wait until it has flown fully onto the video, then it is inside the overlay's box.
        reader.page.wait_for_function(FLOWN_IN, arg=text)
        comment = flying.bounding_box()
        assert comment and inside(comment, overlay), (comment, overlay)
    viewer.screenshot("comment-viewer.png")
    author.screenshot("comment-author.png")


def test_a_stream_can_also_be_made_in_the_admin(readers):
    """Part 5's other way: /admin/, "Live streams", "Add"; the new stream's page works."""
    admin = readers().open("/admin/")
    admin.page.fill("#id_username", "admin")
    admin.page.fill("#id_password", PASSWORD)
    admin.page.press("#id_password", "Enter")
    # The admin's index: the "Live streams" row, its "Add" link.
    admin.page.locator('a.addlink[aria-describedby="realtime_streams-stream"]').click()
    admin.page.locator("#id_title").press_sequentially("Second stream")  # typed: the slug follows it
    expect(admin.page.locator("#id_slug")).to_have_value("second-stream")
    admin.page.select_option("#id_owner", label="admin")
    admin.page.click("input[name=_save]")
    expect(admin.page.locator(".messagelist")).to_contain_text("was added successfully")
    admin.open("/")
    admin.page.get_by_role("link", name="Second stream").click()
    expect(admin.page.locator("h1")).to_have_text("Second stream")
    admin.expect_live()


def test_a_broadcast_and_an_announcement_from_the_shell_arrive(readers, tutorial):
    viewer = readers().open(STREAM_PATH)
    viewer.expect_live()
    home = readers().open("/")  # a page with no stream: announcements still arrive
    expect(home.page.locator("[data-rt-announcements]")).to_be_attached()
    viewer.watch_for("broadcast", "[data-rt-banner]", "from the shell")
    viewer.watch_for("announcement", "[data-rt-announcement]", "Maintenance at 22:00")
    home.watch_for("announcement", "[data-rt-announcement]", "Maintenance at 22:00")
    for reader in (viewer, home):
        reader.expect_subscribed("broadcast.all" if reader is viewer else "announcements.all")

    delays: dict[str, float] = {}
    clock = "\nimport time\nprint('sent at', time.time())\n"
    sent = float(tutorial.shell(snippet("broadcast.py") + clock).split("sent at ")[1])
    delays["broadcast"] = viewer.arrival("broadcast", CROSS_PROCESS_LIMIT) - sent
    sent = float(tutorial.shell(snippet("announce.py") + clock).split("sent at ")[1])
    delays["announcement (stream page)"] = viewer.arrival("announcement", CROSS_PROCESS_LIMIT) - sent
    delays["announcement (home page)"] = home.arrival("announcement", CROSS_PROCESS_LIMIT) - sent
    print("shell -> page delays (s):", json.dumps({k: round(v, 2) for k, v in delays.items()}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "delays.json").write_text(json.dumps(delays, indent=1))

    banner = viewer.page.locator("[data-rt-banner]")
    expect(banner).to_contain_text("Hello")
    expect(banner).to_contain_text("from the shell")
    for reader in (viewer, home):
        notice = reader.page.locator("[data-rt-announcement]", has_text="Maintenance at 22:00")
        expect(notice).to_contain_text("Expect a minute of downtime.")
        box, viewport = notice.bounding_box(), reader.page.viewport_size
        assert box and box["width"] > 200 and 0 <= box["y"] < viewport["height"], box
    viewer.screenshot("broadcast-and-announcement.png")
    home.screenshot("announcement-home.png")
    assert max(delays.values()) < CROSS_PROCESS_LIMIT, delays

    # The same from the command line (commands.sh).
    viewer.watch_for("broadcast again", "[data-rt-banner]", "again")
    viewer.watch_for("announcement again", "[data-rt-announcement]", "Back at 22:30")
    tutorial.bash(snippet("commands.sh"), cwd=tutorial.project)
    viewer.arrival("broadcast again", CROSS_PROCESS_LIMIT)
    viewer.arrival("announcement again", CROSS_PROCESS_LIMIT)
    expect(viewer.page.locator("[data-rt-announcement]")).to_have_count(2)


def test_daphne_says_what_the_tutorial_says_it_says(daphne):
    page = TUTORIAL.read_text()
    block = page[page.index(marker("daphne.sh")) :].split("```text\n", 1)[1].split("```")[0]
    for line in block.strip().splitlines():
        said = line.replace("8000", str(daphne.port))
        assert said in daphne.output(), f"daphne did not say {said!r}:\n{daphne.output()}"


def test_daphne_shows_no_errors(daphne):
    assert "Traceback" not in daphne.output(), daphne.output()
    missing = [line for line in daphne.output().splitlines() if '" 404 ' in line and "favicon" not in line]
    assert not missing, missing  # every script and style sheet the pages asked for was served
