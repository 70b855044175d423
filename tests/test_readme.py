"""README.md's "Adding realtime to an existing project", followed as written: a fresh
`django-admin startproject mysite`, step 1's `pip install django-realtime-hub` (from the wheel built from
this checkout: PIP_FIND_LINKS and PIP_NO_INDEX, tests/wheelkit.py; the command's text is the README's),
step 2's settings appended to settings.py, step 3's block in place of asgi.py's last line, step 4's
URLs appended and its commands run (`check` must find nothing), then daphne and Chromium on a page
that uses step 5's template tags: the stream widget goes live, its scripts and styles load.

What the test adds that the README leaves to the reader (a user, a stream, a view putting the stream in
a template) is written here, apart from what the README says. daphne listens on the README's port 8000
unless something else on this machine already does (then on a free port, said so).
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.sitekit import READER_PORT, readers_daphne
from tests.wheelkit import clean_env, from_wheelhouse, wheelhouse

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import chromium  # noqa: E402

expect = playwright_sync.expect

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[
    README.index("## Adding realtime to an existing project") : README.index("\nSend from Python")
]
STARTPROJECT = "django-admin startproject mysite"  # the project the README's steps name

# The test's own page for step 5's tags: a view that puts a stream in the context, as the README says
# "your view" does. The tags themselves are taken from the README below.
VIEW = '''
from django.http import HttpResponse
from django.template import engines

from realtime.streams.models import Stream

PAGE = """<!doctype html><html><head><title>README page</title>{head}</head>
<body>{body}<main>{stream}</main></body></html>"""


def readme_page(request):
    template = engines["django"].from_string(PAGE)
    return HttpResponse(template.render({"stream": Stream.objects.get(slug="readme")}, request))
'''
ROUTE = '\nfrom mysite.readme_view import readme_page\n\nurlpatterns += [path("readme/", readme_page)]\n'
CREATE_STREAM = (
    "from django.contrib.auth.models import User\nfrom realtime.streams.models import Stream\n"
    "Stream.objects.create(title='README stream', slug='readme', owner=User.objects.get(username='admin'))\n"
)


@pytest.fixture(autouse=True)
def _fresh_realtime():
    """Replaces conftest's async hub reset: the server under test is a daphne subprocess, and
    Playwright's sync API keeps an event loop running in this thread."""
    yield


def step(number: int) -> str:
    """The text of one numbered step of the README's short version."""
    start = SECTION.index(f"\n{number}. ")
    following = SECTION.find(f"\n{number + 1}. ", start)
    return SECTION[start : following if following != -1 else len(SECTION)]


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of `language` in `text`, un-indented from the list item they sit in."""
    found = re.findall(rf"^( *)```{language}\n(.*?)^\1```$", text, re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for _, body in found]


@dataclass
class Reader:
    home: Path
    pip: dict[str, str]  # where pip finds the package (tests/wheelkit.py)
    daphne: str = ""  # step 4's daphne command

    @property
    def project(self) -> Path:
        return self.home / "mysite"

    @property
    def env(self) -> dict[str, str]:
        """A shell with the reader's virtualenv active, pip pointed at the wheelhouse."""
        venv = self.home / ".venv"
        return clean_env(self.home, venv, VIRTUAL_ENV=str(venv), PYTHONUNBUFFERED="1", **self.pip)

    def bash(self, script: str, cwd: Path, input: str | None = None, **extra: str) -> str:
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env={**self.env, **extra},
            input=input,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"{script}\nfailed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Reader:
    """Steps 1 to 4, as written, in a new virtualenv and a fresh project."""
    reader = Reader(home=tmp_path_factory.mktemp("readme"), pip=from_wheelhouse(wheelhouse(tmp_path_factory)))
    # The reader's own environment (the README assumes one): a new virtualenv from the system's python3.
    subprocess.run(
        ["python3", "-m", "venv", ".venv"], cwd=reader.home, env=clean_env(reader.home), check=True
    )
    [install] = blocks(step(1), "sh")
    assert install.strip() == "pip install django-realtime-hub", install
    said = reader.bash(install, cwd=reader.home)
    assert "django-realtime-hub-0" in said, said
    assert STARTPROJECT in SECTION
    reader.bash(STARTPROJECT, cwd=reader.home)

    [settings] = blocks(step(2), "python")
    assert "at the end of `mysite/settings.py`" in step(2)
    settings_py = reader.project / "mysite" / "settings.py"
    settings_py.write_text(settings_py.read_text() + "\n" + settings)

    [asgi] = blocks(step(3), "python")
    last_line = "application = get_asgi_application()"
    assert f"replace its last line, `{last_line}`" in step(3)
    asgi_py = reader.project / "mysite" / "asgi.py"
    fresh = asgi_py.read_text()
    assert fresh.rstrip().splitlines()[-1] == last_line, fresh  # what startproject writes today
    asgi_py.write_text(fresh.rstrip()[: -len(last_line)] + asgi)

    [urls] = blocks(step(4), "python")
    assert "`mysite/urls.py`, at the end of the file" in step(4)
    urls_py = reader.project / "mysite" / "urls.py"
    urls_py.write_text(urls_py.read_text() + "\n" + urls)
    [commands] = blocks(step(4), "sh")
    migrate, check, daphne = commands.strip().splitlines()
    reader.bash(migrate, cwd=reader.project)
    checked = reader.bash(check, cwd=reader.project).strip()
    assert checked == "System check identified no issues (0 silenced).", checked
    reader.daphne = daphne

    # The test's own additions: a user, a stream, a page for step 5's tags.
    reader.bash(
        "python manage.py createsuperuser --noinput --username admin --email admin@example.com",
        cwd=reader.project,
        DJANGO_SUPERUSER_PASSWORD="readme-pw-1",
    )
    reader.bash("python manage.py shell", cwd=reader.project, input=CREATE_STREAM)
    tags = re.findall(r"`(\{% load [^`]+%\})`", step(5))
    client, stream, announcements = tags
    assert "realtime_client" in client and "realtime_stream stream" in stream, tags
    assert "realtime_announcements %}" in announcements, tags
    view = VIEW.replace("{head}", client).replace("{body}", announcements).replace("{stream}", stream)
    (reader.project / "mysite" / "readme_view.py").write_text(view)
    urls_py.write_text(urls_py.read_text() + ROUTE)
    return reader


@pytest.fixture(scope="module")
def server(reader) -> Iterator[str]:
    """Step 4's `daphne -p 8000 mysite.asgi:application`, from the reader's virtualenv."""
    command = reader.daphne
    assert command == f"daphne -p {READER_PORT} mysite.asgi:application", command
    with readers_daphne(command, reader.project, reader.env, reader.home / "daphne.log") as daphne:
        yield daphne.url
    output = daphne.output()
    assert "Traceback" not in output, output


def test_the_steps_give_a_live_stream_widget_on_daphne_in_chromium(server):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and errors.append(r.url))
        page.goto(server + "/readme/")
        # realtime.js loaded (step 3's static files handler) and the socket accepted (step 3's route).
        expect(page.locator("[data-rt-connection]")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("[data-rt-announcements]")).to_be_attached()
        # The widget's style sheet applies: the overlay covers a player of real size.
        overlay = page.locator(".rt-overlay").bounding_box()
        assert overlay and overlay["height"] > 100, overlay
        context.close()
        assert errors == [], errors


def test_the_steps_have_no_placeholder_to_fill_in():
    """The steps name `mysite` throughout (the project the README says to start), so they run unedited."""
    assert "yourproject" not in SECTION
