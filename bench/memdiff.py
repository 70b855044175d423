"""What the idle connections' memory is made of: tracemalloc snapshots (bench/run --memprofile) compared.

    .venv/bin/python -m bench.memdiff before.pickle after.pickle --per 5000 [--top 25]

Prints the allocation sites that grew most, grouped by the innermost frame outside the standard library
and by file, with bytes per connection.
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

_STDLIB = (
    "/asyncio/",
    "/collections/",
    "/weakref",
    "/abc.py",
    "/functools.py",
    "/enum.py",
    "/typing.py",
    "<frozen",
    "/threading.py",
    "/copy.py",
    "/_weakrefset.py",
    "/re/",
    "/contextlib.py",
)


def _site(tb: tracemalloc.Traceback) -> str:
    """The innermost frame that is not plumbing, plus the innermost frame itself."""
    frames = list(tb)  # oldest frame first, the allocating one last
    inner = frames[-1]
    owner = next((f for f in reversed(frames) if not any(s in f.filename for s in _STDLIB)), inner)
    short = lambda f: f"{f.filename.split('site-packages/')[-1].replace('/work/main/', '')}:{f.lineno}"  # noqa: E731
    return short(owner) if owner is inner else f"{short(owner)} -> {short(inner)}"


def diff(before: Path, after: Path, per: int, top: int = 25) -> str:
    a = tracemalloc.Snapshot.load(str(before))
    b = tracemalloc.Snapshot.load(str(after))
    stats = b.compare_to(a, "traceback")
    total = sum(s.size_diff for s in stats)
    by_site: dict[str, list[int]] = {}
    by_file: dict[str, int] = {}
    for s in stats:
        key = _site(s.traceback)
        acc = by_site.setdefault(key, [0, 0])
        acc[0] += s.size_diff
        acc[1] += s.count_diff
        owner = key.split(" -> ")[0].rsplit(":", 1)[0]
        by_file[owner] = by_file.get(owner, 0) + s.size_diff
    lines = [
        f"traced Python allocations grew {total / 1024:.0f} KB = {total / per / 1024:.2f} KB per connection "
        f"({per} connections); RSS also holds what tracemalloc cannot see (C buffers, fragmentation)",
        "",
        "by file:",
    ]
    for f, size in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {size / per:8.0f} B/conn  {f}")
    lines += ["", "by allocation site:"]
    for site, (size, count) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"  {size / per:8.0f} B/conn  {count / per:6.1f} blocks/conn  {site}")
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--per", type=int, required=True, help="connections opened between the snapshots")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    print(diff(a.before, a.after, a.per, a.top))
