"""The package as a user installs it, built once per test run: the wheel and sdist, and a clean virtualenv
with the wheel installed (tests/test_packaging.py and tests/test_tutorial.py share both).

Both are kept under pytest's session temporary directory and reused by every test that asks, whichever
module asks first: fixtures imported into two modules are two fixtures to pytest, so the sharing is
done here, not by the fixtures' scope.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Nothing of this test run's environment (DJANGO_SETTINGS_MODULE, PYTHONPATH, the repo's venv) leaks
# into what runs in the clean virtualenv.
CLEAN_PATH = "/usr/bin:/bin"


def clean_env(home: Path, venv_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """A minimal environment: PATH (the virtualenv's bin first, if given) and HOME, plus `extra`."""
    path = f"{venv_dir / 'bin'}:{CLEAN_PATH}" if venv_dir else CLEAN_PATH
    return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", **extra}


def built_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding this checkout's wheel and sdist, built on first use."""
    out = tmp_path_factory.getbasetemp() / "wheelkit-dist"
    if not list(out.glob("django_realtime_hub-*.whl")):
        out.mkdir(exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"python -m build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return out


def wheel_of(dist: Path) -> Path:
    [wheel] = dist.glob("django_realtime_hub-*.whl")
    return wheel


def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv (no system site-packages) with the built wheel and its dependencies installed,
    made on first use. Tests may run its `python`, `django-admin` and `daphne`, never install into it."""
    env_dir = tmp_path_factory.getbasetemp() / "wheelkit-venv"
    done = env_dir / ".wheelkit-installed"
    if not done.exists():
        wheel = wheel_of(built_dist(tmp_path_factory))
        venv.create(env_dir, with_pip=True, clear=True)
        result = subprocess.run(
            [
                str(env_dir / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ]
            + [str(wheel)],
            capture_output=True,
            text=True,
            timeout=600,  # the environment as is: pip's index and proxy settings live there
        )
        assert result.returncode == 0, f"pip install of the wheel failed:\n{result.stderr[-3000:]}"
        done.write_text(wheel.name)
    return env_dir
