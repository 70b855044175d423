"""The documentation site builds without a warning, and its reference is complete.

`mkdocs build --strict` fails on any warning: a broken link or anchor, a page missing from the nav, a
snippet file (`--8<-- "docs/tutorial/..."`) that does not exist. The completeness checks read what the
code declares (settings keys, system check ids, error and close codes, management commands, template
tags, public functions) and fail naming whatever the reference pages leave out, so a new setting or
check cannot ship undocumented.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"


def sections(path: Path, level: str = "###") -> dict[str, str]:
    """The page's `### heading` sections, keyed by the heading's text without backticks."""
    text = path.read_text(encoding="utf-8")
    found = {}
    for block in re.split(rf"^{level} ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        found[heading.strip().strip("`")] = body.split("\n## ", 1)[0]
    return found


def realtime_sources() -> list[Path]:
    return sorted(path for path in (ROOT / "realtime").rglob("*.py") if "migrations" not in path.parts)


# -- the build --------------------------------------------------------------------------------------


def test_site_builds_strict_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--clean",
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,  # pymdownx.snippets resolves "docs/tutorial/..." from here (base_path ".")
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    for page in (
        "index.html",
        "reference/settings/index.html",
        "deployment/index.html",
        "tutorial/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), f"{page} was not built"
    # Nothing loads from another host (the theme's highlight.js CDN is off; Pygments highlights instead).
    pages = "".join(path.read_text(encoding="utf-8") for path in (tmp_path / "site").rglob("*.html"))
    assert not re.findall(r'(?:src|href)="(?:https?:)?//[^"]+\.(?:js|css)"', pages), (
        "a page loads a remote asset"
    )
    assert '<div class="highlight">' in pages
    settings_page = (tmp_path / "site" / "reference/settings/index.html").read_text(encoding="utf-8")
    assert "HISTORY_LIMIT" in settings_page
    # docs/hooks.py wrote the quoted defaults from the code, and left none of its markers.
    protocol_page = (tmp_path / "site" / "protocol/index.html").read_text(encoding="utf-8")
    assert "<code>COALESCE_WINDOW</code>, 20 ms" in protocol_page
    assert not [p.name for p in (tmp_path / "site").rglob("*.html") if "<!-- default" in p.read_text("utf-8")]


# -- the reference is complete ------------------------------------------------------------------------


def declared_settings() -> dict[str, object]:
    """Every key of `REALTIME`: the core's and those every feature declares (by importing its module)."""
    from realtime.conf import realtime_settings

    for path in realtime_sources():
        if "realtime_settings.declare(" in path.read_text(encoding="utf-8"):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return realtime_settings.defaults


def test_every_setting_is_in_the_settings_reference_with_its_default():
    defaults = declared_settings()
    assert {"HISTORY_LIMIT", "RATE_LIMIT_COUNT", "ANNOUNCEMENT_SCHEDULER"} <= set(defaults)
    documented = sections(REFERENCE / "settings.md")
    missing = sorted(set(defaults) - set(documented))
    assert missing == [], (
        f"document these REALTIME keys in docs/reference/settings.md: {missing} (a '### `KEY`' heading, "
        "then 'Default: `<repr of the default>`', then what it does)"
    )
    stale = sorted(name for name in documented if name.isupper() and name not in defaults)
    assert stale == [], f"docs/reference/settings.md documents keys no code declares: {stale}"
    wrong = {
        name: repr(value)
        for name, value in defaults.items()
        if f"Default: <!-- default {name} code -->`{value!r}`<!-- /default -->" not in documented[name]
    }
    assert wrong == {}, (
        f"docs/reference/settings.md gives other defaults than the code: {wrong} (each section says "
        "'Default: <!-- default KEY code -->`<repr>`<!-- /default -->'; `python docs/hooks.py` writes them)"
    )


# -- defaults quoted in the docs come from the code ---------------------------------------------------


def doc_hooks():
    """docs/hooks.py, the MkDocs hook that writes marked defaults (not a package: loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("realtime_doc_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_marked_default_in_the_docs_is_the_codes():
    """README.md and docs/ quote defaults between `<!-- default KEY -->` markers; each must read what
    the code declares (the site is built with the code's values anyway; this keeps the Markdown a code
    host shows right too)."""
    stale = doc_hooks().stale()
    assert stale == {}, (
        f"these pages quote other defaults than the code: {sorted(str(p.relative_to(ROOT)) for p in stale)}; "
        "run `python docs/hooks.py` to rewrite them"
    )


# A setting's name followed by a number, as prose quotes a default: "`HEARTBEAT` (25", "`X`, 5 s",
# "`REALTIME["X"]` (default 60", "`X` seconds (5", a table row "| `X` | `25` |".
_QUOTED_DEFAULT = r'`(?:REALTIME\["{name}"\]|{name})`(?: seconds)?(?: \(| \| |, )(?:default |about )?`?\d'


def test_every_default_quoted_in_the_docs_is_marked():
    defaults = declared_settings()
    unmarked = []
    for path in doc_hooks().sources():
        text = path.read_text(encoding="utf-8")
        for name in defaults:
            for match in re.finditer(_QUOTED_DEFAULT.format(name=name), text):
                unmarked.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert unmarked == [], (
        "mark these defaults, e.g. `HEARTBEAT` (<!-- default HEARTBEAT s -->25 s<!-- /default -->), so they "
        f"follow the code (docs/hooks.py lists the formats): {unmarked}"
    )


def test_marked_defaults_follow_a_changed_default(monkeypatch):
    """What makes the two tests above fail: a default changed in the code and not in the pages."""
    from realtime.conf import realtime_settings

    hooks = doc_hooks()
    monkeypatch.setitem(realtime_settings._defaults, "COALESCE_WINDOW", 0.05)
    stale = {path.relative_to(ROOT).as_posix(): text for path, text in hooks.stale().items()}
    assert {
        "docs/delivery.md",
        "docs/protocol.md",
        "docs/performance.md",
        "docs/reference/settings.md",
    } <= set(stale)
    assert "<!-- default COALESCE_WINDOW ms -->50 ms<!-- /default -->" in stale["docs/delivery.md"]
    # The build writes the value alone; a marker that names nothing or begins a line fails it.
    assert hooks.fill("within <!-- default COALESCE_WINDOW ms -->0<!-- /default -->", keep_markers=False) == (
        "within 50 ms"
    )
    for broken in (
        "x <!-- default NO_SUCH_KEY -->1<!-- /default -->",
        "x <!-- default HEARTBEAT furlongs -->1<!-- /default -->",
        "x <!-- default ALLOWED_ORIGINS s -->None<!-- /default -->",
        "<!-- default HEARTBEAT s -->25 s<!-- /default --> at the start of a line",
        "- <!-- default HEARTBEAT s -->25 s<!-- /default --> at the start of a list item",
    ):
        with pytest.raises(hooks.MarkerError):
            hooks.fill(broken)


def check_ids_in_the_code() -> set[str]:
    ids = set()
    for path in realtime_sources():
        ids |= set(re.findall(r'\bid="(realtime\.[EW]\d{3})"', path.read_text(encoding="utf-8")))
    return ids


def test_every_system_check_is_in_the_checks_reference():
    from django.core import checks

    ids = check_ids_in_the_code()
    assert {"realtime.E001", "realtime.W003", "realtime.E004", "realtime.E020"} <= ids
    # The checks framework runs them all on the test settings without crashing (ids only come from code).
    checks.run_checks(include_deployment_checks=False)
    documented = set(sections(REFERENCE / "checks.md"))
    assert sorted(ids - documented) == [], "add a '### `realtime.XNNN`' section to docs/reference/checks.md"
    assert sorted(name for name in documented if name not in ids) == [], "checks.md documents unknown ids"


def error_codes_in_the_code() -> set[str]:
    """Every error code the server or the browser client can produce, read from the source."""
    codes = set()
    for path in realtime_sources():
        source = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'(?:ProtocolError|Denied)\(\s*"([a-z_]+)"', source))
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', source))
        codes |= set(re.findall(r'_error\(\d+, "([a-z_]+)"', source))
        codes |= set(re.findall(r'\{"error": "([a-z_]+)"', source))
        if "Unavailable(" in source:
            codes.add("unavailable")
    client = (ROOT / "realtime/static/realtime/realtime.js").read_text(encoding="utf-8")
    codes |= set(re.findall(r'RealtimeError\(\s*"([a-z_]+)"', client))
    codes |= set(re.findall(r'_stop\("([a-z_]+)"\)', client))
    return codes


def table_codes(text: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))


def test_every_error_code_is_in_the_codes_reference():
    codes = error_codes_in_the_code()
    assert {
        "bad_json",
        "rate_limited",
        "banned",
        "unavailable",
        "auth_failed",
        "bad_receipt",
        "offline",
    } <= codes
    documented = table_codes((REFERENCE / "codes.md").read_text(encoding="utf-8"))
    assert sorted(codes - documented) == [], "add these codes to a table in docs/reference/codes.md"
    # What the protocol page lists for clients is in the reference too.
    protocol = (DOCS / "protocol.md").read_text(encoding="utf-8").split("## Error codes", 1)[1]
    protocol = protocol.split("\n## ", 1)[0]
    stream_codes = " ".join(re.findall(r"^\| stream codes \| (.*) \|$", protocol, re.M))
    stream_codes = re.sub(r"\([^)]*\)", "", stream_codes)  # "(with `retry_after`)" names a field, not a code
    listed = table_codes(protocol) | set(re.findall(r"`([a-z_]+)`", stream_codes))
    assert "slow_mode" in listed
    assert sorted(listed - documented) == []


def close_codes_in_the_code() -> set[int]:
    codes = set()
    for path in realtime_sources():
        codes |= {
            int(c) for c in re.findall(r"^CLOSE_[A-Z_]+ = (\d{4})\b", path.read_text(encoding="utf-8"), re.M)
        }
    return codes


def test_every_close_code_is_in_the_reference_and_the_protocol():
    codes = close_codes_in_the_code()
    assert {4001, 4003, 4008, 4013, 4029, 4429} <= codes
    for page in (REFERENCE / "codes.md", DOCS / "protocol.md"):
        close_table = page.read_text(encoding="utf-8").split("## Close codes", 1)[1].split("\n## ", 1)[0]
        documented = {int(c) for c in re.findall(r"^\| (\d{4}) ", close_table, re.M)}
        assert sorted(codes - documented) == [], f"add these close codes to the table in {page.name}"


def test_every_management_command_is_in_the_commands_reference():
    commands = {
        path.stem
        for path in (ROOT / "realtime").rglob("management/commands/*.py")
        if not path.name.startswith("_")
    }
    assert {"broadcast", "realtime_prune", "realtime_ticket", "announce", "realtime_scheduler"} <= commands
    documented = set(sections(REFERENCE / "commands.md"))
    assert sorted(commands - documented) == [], "add a '### `name`' section to docs/reference/commands.md"


def test_every_template_tag_is_in_the_tags_reference():
    documented = (REFERENCE / "templatetags.md").read_text(encoding="utf-8")
    tags = set()
    for path in (ROOT / "realtime").rglob("templatetags/*.py"):
        if path.name.startswith("_"):
            continue
        library = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        tags |= set(library.register.tags)
        assert f"{{% load {path.stem} %}}" in documented, f"say how to load {path.stem}"
    assert {"realtime_client", "realtime_stream", "realtime_announcements"} <= tags
    missing = sorted(tag for tag in tags if f"## `{{% {tag}" not in documented)
    assert missing == [], "add a '## `{% tag %}`' section to docs/reference/templatetags.md"


@pytest.mark.parametrize(
    "module", ["realtime", "realtime.topics", "realtime.testing", "realtime.announcements"]
)
def test_every_public_name_is_in_the_api_reference(module):
    names = importlib.import_module(module).__all__
    documented = (REFERENCE / "api.md").read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"`{name}" not in documented and f"{name}(" not in documented)
    assert missing == [], f"document {module}'s public names in docs/reference/api.md"


def test_every_page_of_the_docs_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if "tutorial" not in path.parent.parts
    }
    assert sorted(page for page in pages if f": {page}" not in nav) == []


# -- the README ---------------------------------------------------------------------------------------


def test_readme_names_the_package_links_into_the_docs_and_shows_the_demo():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`django-realtime-hub`" in "\n".join(readme.splitlines()[:4]), (
        "name the package in the first lines"
    )
    links = re.findall(r"\]\(((?:docs/)[^)#\s]+)", readme)
    assert len(links) >= 8
    broken = sorted(link for link in links if not (ROOT / link).exists())
    assert broken == [], f"README links to files that do not exist: {broken}"
    assert "docs/img/demo.png" in links
    assert "pip install django-realtime-hub" in readme
