"""The reader's own daphne, shared by tests/test_readme.py and tests/test_tutorial.py: the command the
README or the tutorial prints (`daphne -p 8000 mysite.asgi:application`), run as written in the reader's
project and virtualenv, its output kept in a log the tests read afterwards.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, wait_for_port

READER_PORT = 8000  # the port the README's and the tutorial's daphne command names


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Daphne:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def readers_daphne(command: str, project: Path, env: dict[str, str], log: Path) -> Iterator[Daphne]:
    """Run `command` in `project` until the block ends. If another server on this machine holds port
    8000, the one change: a free port instead, said in the output."""
    port = READER_PORT
    if not port_is_free(port):
        port = free_port()
        command = command.replace(f"-p {READER_PORT} ", f"-p {port} ")
        print(f"port {READER_PORT} is taken on this machine: daphne runs with -p {port}")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
        yield Daphne(process, port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
