"""Put the tested files under docs/tutorial/ into docs/tutorial.md, so the page shows its code wherever
it is read (a code host, an editor, the built site) and the code shown is the code the suite runs.

Each block of code in the page that comes from a file has the file's path in a comment line above it:

    <!-- code: docs/tutorial/asgi.py -->

    ```python
    ...the file, copied here by this script...
    ```

Edit the file under docs/tutorial/, never the block, then run `python docs/tutorial_code.py`.
`python docs/tutorial_code.py --check` changes nothing and exits 1 when the page and the files differ
(tests/test_tutorial.py runs the same comparison).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "tutorial.md"

# The comment naming the file, a blank line, then the fenced block (its language kept, its body replaced).
BLOCK = re.compile(
    r"^<!-- code: (?P<path>docs/tutorial/[^ ]+) -->\n\n(?P<fence>```[a-z]*\n)(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def included(page: str) -> list[str]:
    """The files the page shows, in its order (a file shown twice is listed twice)."""
    return [match["path"] for match in BLOCK.finditer(page)]


def render(page: str, root: Path = ROOT) -> str:
    """`page` with every marked block's body replaced by its file's current text."""

    def fill(match: re.Match[str]) -> str:
        path = root / match["path"]
        if not path.is_file():
            raise SystemExit(f"{PAGE.name}: {match['path']} does not exist (fix the comment above its block)")
        text = path.read_text()
        if "```" in text:
            raise SystemExit(f"{match['path']} holds ``` and would end the block early")
        return f"<!-- code: {match['path']} -->\n\n{match['fence']}{text.rstrip(chr(10))}\n```"

    return BLOCK.sub(fill, page)


def main(argv: list[str]) -> int:
    page = PAGE.read_text()
    fresh = render(page)
    if "--check" in argv:
        if fresh != page:
            print(f"{PAGE.relative_to(ROOT)} differs from docs/tutorial/: run python docs/tutorial_code.py")
            return 1
        return 0
    if fresh != page:
        PAGE.write_text(fresh)
        print(f"updated {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
