"""Summarise py-spy `--format raw` output (collapsed stacks): where the samples were, self and inclusive.

.venv/bin/python -m bench.profile bench/out/<run>/<server>-<scenario>-p0.pyspy.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def _frame(f: str) -> str:
    # py-spy frames look like "func (path/to/file.py:123)"; drop the line number and shorten paths.
    f = re.sub(r":\d+\)$", ")", f)
    f = re.sub(r"\(.*?site-packages/", "(", f)
    f = re.sub(r"\(/work/main/", "(", f)
    return f


def summarise(path: Path, top: int = 20) -> dict:
    self_c: Counter = Counter()
    incl: Counter = Counter()
    threads: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        stack, n = m.group(1).split(";"), int(m.group(2))
        total += n
        threads[stack[0]] += n
        frames = [_frame(f) for f in stack[1:]] or ["(thread only)"]
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return {
        "samples": total,
        "self": self_c.most_common(top),
        "inclusive": incl.most_common(top),
        "threads": threads.most_common(8),
    }


def render(s: dict) -> str:
    t = s["samples"] or 1
    out = [f"{s['samples']} samples (py-spy, non-idle threads)", "", "threads:"]
    out += [f"  {n / t * 100:5.1f}%  {k}" for k, n in s["threads"]]
    out += ["", "self:"]
    out += [f"  {n / t * 100:5.1f}%  {k}" for k, n in s["self"]]
    out += ["", "inclusive:"]
    out += [f"  {n / t * 100:5.1f}%  {k}" for k, n in s["inclusive"]]
    return "\n".join(out)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    for f in a.files:
        print(f"== {f}")
        print(render(summarise(f, a.top)))
