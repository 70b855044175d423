"""Defaults quoted in the docs come from the code (`realtime.conf.DEFAULTS` and the features'), not prose.

A page quotes a default between two HTML comments, with the value written out in between, so it reads
right wherever the Markdown is read (a code host hides the comments) and can still be checked:

    every <!-- default SYNC_INTERVAL s -->5 s<!-- /default --> each hub compares ...

The name is a `REALTIME` key; the optional format says how the value is written:

    (none)  the number as people write it: 5, 0.25, 16384
    code    the Python repr in backticks, as docs/reference/settings.md gives defaults: `5.0`, `None`
    s, ms   seconds, milliseconds: 5 s, 20 ms
    KiB     kibibytes: 16 KiB (MiB likewise)

Three users of the same `fill()`:

- MkDocs runs this file as a hook (`hooks:` in mkdocs.yml): every page is built with the values the
  code has now, whatever its source says;
- `python docs/hooks.py` rewrites the sources (README.md and docs/) after a default changed;
  `--check` only says which differ;
- tests/test_docs.py fails while any source differs from what it would write.

A marker must not begin a line: CommonMark reads a line that begins with `<!--` as a raw HTML block,
and the rest of that line would lose its Markdown.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- default ([A-Z][A-Z0-9_]*)(?: ([A-Za-z]+))? -->([^\n]*?)<!-- /default -->")
_UNITS = {"s": (1, " s"), "ms": (1000, " ms"), "KiB": (1 / 1024, " KiB"), "MiB": (1 / 1024**2, " MiB")}
_LINE_START = re.compile(r"[ \t]*(?:>[ \t]*)*(?:(?:[-*+]|\d+[.)])[ \t]+)?$")


class MarkerError(ValueError):
    """A marker names no setting or format, or sits where Markdown would misread it."""


def defaults() -> dict[str, Any]:
    """Every REALTIME key's default: the core's and every feature's (declared when its conf imports)."""
    if str(ROOT) not in sys.path:  # `mkdocs build` run as a script does not put the project on the path
        sys.path.insert(0, str(ROOT))
    from realtime.conf import realtime_settings

    for conf in sorted((ROOT / "realtime").glob("*/conf.py")):
        importlib.import_module(f"realtime.{conf.parent.name}.conf")
    return realtime_settings.defaults


def render(value: Any, form: str | None) -> str:
    """`value` written as `form` says (see the module's docstring)."""
    if form == "code":
        return f"`{value!r}`"
    if form and form not in _UNITS:
        raise MarkerError(f"unknown format {form!r}; use one of code, {', '.join(_UNITS)} or none")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MarkerError(f"{value!r} is not a number; quote it with the 'code' format")
    scale, unit = _UNITS.get(form or "", (1, ""))
    number = round(value * scale, 6)
    return f"{int(number) if float(number).is_integer() else number}{unit}"


def fill(text: str, *, keep_markers: bool = True, source: str = "") -> str:
    """`text` with every marked default written as the code has it; without the markers for a build."""
    values = defaults()

    def write(match: re.Match[str]) -> str:
        name, form, _ = match.groups()
        where = f"{source}: " if source else ""
        if name not in values:
            raise MarkerError(f"{where}{name!r} is not a REALTIME setting; fix the marker's name")
        line_start = text.rfind("\n", 0, match.start()) + 1
        if _LINE_START.match(text, line_start, match.start()):
            raise MarkerError(f"{where}the marker of {name} begins a line; move a word before it")
        value = render(values[name], form)
        if not keep_markers:
            return value
        return f"<!-- default {name}{' ' + form if form else ''} -->{value}<!-- /default -->"

    return MARKER.sub(write, text)


def sources() -> list[Path]:
    """The Markdown that quotes defaults: README.md and the pages of docs/ (not the tutorial's files)."""
    return [
        ROOT / "README.md",
        *sorted(p for p in (ROOT / "docs").rglob("*.md") if "tutorial" not in p.parts),
    ]


def stale() -> dict[Path, str]:
    """The sources whose marked values differ from the code's, with what they should say."""
    found = {}
    for path in sources():
        text = path.read_text(encoding="utf-8")
        filled = fill(text, source=str(path.relative_to(ROOT)))
        if filled != text:
            found[path] = filled
    return found


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: build each page with the defaults as the code has them, and no markers."""
    from mkdocs.exceptions import PluginError

    try:
        return fill(markdown, keep_markers=False, source=page.file.src_path)
    except MarkerError as exc:
        raise PluginError(str(exc)) from None


def main(argv: list[str]) -> int:
    """`python docs/hooks.py` rewrites the sources; `--check` lists the ones that differ (exit 1)."""
    try:
        changed = stale()
    except MarkerError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path, text in changed.items():
        if "--check" not in argv:
            path.write_text(text, encoding="utf-8")
        print(f"{'differs' if '--check' in argv else 'rewrote'}: {path.relative_to(ROOT)}")
    return 1 if changed and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
