"""Take docs/img/demo.png: the example site's demo stream with comments flying across the overlay.

    .venv/bin/python docs/screenshot.py [--out docs/img/demo.png]

Sets up the example project on a fresh SQLite database in a temporary directory (migrate,
`realtime_demo`, one announcement), starts it on daphne on a free loopback port, logs alice and bob in
with Debian's Chromium (Playwright, as tests/browserkit.py launches it), has them post comments in
several colours and modes, and photographs alice's page while the comments cross the video. Nothing
touches the network or the project's own db.sqlite3.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browserkit import chromium  # noqa: E402  (after the path is set)

COMMENTS = [
    # (who, text, colour, mode)
    ("alice", "This overlay is so smooth!", "#ffffff", "scroll"),
    ("bob", "Hello from the other browser 👋", "#55aaff", "scroll"),
    ("alice", "Comments fly across the video", "#ffd700", "scroll"),
    ("bob", "Pinned to the top", "#ff77ff", "top"),
    ("alice", "Resume after a drop: nothing lost", "#55ff55", "scroll"),
    ("bob", "❤️❤️❤️", "#ff5555", "scroll"),
    ("alice", "And one at the bottom", "#ffffff", "bottom"),
    ("bob", "Live from daphne", "#ffffff", "scroll"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"daphne did not answer on port {port} within {timeout:g} s")


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def log_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{base}/accounts/login/?next=/streams/demo/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("form.login [type=submit]")
    page.wait_for_url(f"{base}/streams/demo/")
    page.wait_for_selector("[data-rt-connection][data-state=live]", timeout=15_000)
    return page


def post(page, text: str, color: str, mode: str, n: int) -> None:
    page.evaluate(
        """([text, color, mode, id]) => realtime.connect().publish(
               "stream.1", "comment", {text, color, mode, client_id: "shot-" + id})""",
        [text, color, mode, f"{n}-{time.time_ns()}"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/demo.png")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "SQLITE_PATH": str(Path(tmp) / "db.sqlite3"),
            "DJANGO_DEBUG": "1",
            "REALTIME_LOG_LEVEL": "WARNING",
        }
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "realtime_demo")
        manage(
            env,
            "announce",
            "Welcome to the realtime demo",
            "--body",
            "Comment below: everyone sees it at once.",
        )
        port = free_port()
        daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(port, daphne)
            base = f"http://127.0.0.1:{port}"
            with chromium() as browser:
                pages = {"alice": log_in(browser, base, "alice"), "bob": log_in(browser, base, "bob")}
                for n, (who, text, color, mode) in enumerate(COMMENTS):
                    post(pages[who], text, color, mode, n)
                    time.sleep(0.35)
                shot = pages["alice"]
                shot.wait_for_function(
                    f"document.querySelectorAll('[data-rt-comments] li').length >= {len(COMMENTS)}"
                )
                time.sleep(1.2)  # let the scrolling comments reach the middle of the video
                options.out.parent.mkdir(parents=True, exist_ok=True)
                shot.screenshot(path=str(options.out))
        finally:
            daphne.terminate()
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.kill()
    print(f"wrote {options.out.relative_to(ROOT) if options.out.is_relative_to(ROOT) else options.out}")


if __name__ == "__main__":
    main()
