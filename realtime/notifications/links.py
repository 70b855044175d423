"""Which links a notification may carry: checked when one is stored and again when a page shows it
(a row edited in the admin or the database skips `notify()`'s checks)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def safe_url(url: str) -> bool:
    """An http(s) address or a path on this site; never `javascript:`, `data:` or a `//host` address
    that only looks like a path."""
    if not url:
        return True
    if _UNSAFE.search(url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
