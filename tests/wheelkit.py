"""The package as a user installs it, built once per test run: the wheel and sdist, a clean virtualenv
with the wheel installed (tests/test_packaging.py), and a wheelhouse from which the README's and the
tutorial's own `pip install django-realtime-hub` installs this checkout by its name
(tests/test_readme.py, tests/test_tutorial.py).

Both are kept under pytest's session temporary directory and reused by every test that asks, whichever
module asks first: fixtures imported into two modules are two fixtures to pytest, so the sharing is
done here, not by the fixtures' scope.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Nothing of this test run's environment (DJANGO_SETTINGS_MODULE, PYTHONPATH, the repo's venv) leaks
# into what runs in the clean virtualenv.
CLEAN_PATH = "/usr/bin:/bin"
DISTRIBUTION = "django-realtime-hub"  # what users type after `pip install`


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


def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding this checkout's wheel and the wheels of all its dependencies, made on first use
    (the dependencies come from this machine's index settings, for the `python3` a reader would use)."""
    house = tmp_path_factory.getbasetemp() / "wheelkit-house"
    done = house / ".wheelkit-complete"
    if not done.exists():
        house.mkdir(exist_ok=True)
        wheel = shutil.copy(wheel_of(built_dist(tmp_path_factory)), house)
        python3 = shutil.which("python3", path=CLEAN_PATH)
        assert python3, f"no python3 on {CLEAN_PATH}"
        result = subprocess.run(
            [
                python3,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "-d",
                str(house),
                wheel,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"pip download of the dependencies failed:\n{result.stderr[-3000:]}"
        done.write_text(Path(wheel).name)
    return house


def from_wheelhouse(house: Path) -> dict[str, str]:
    """The environment that makes `pip install django-realtime-hub`, typed as the docs say, install from
    `house` only: the package index is never asked, so the name cannot resolve to anyone else's package
    and the wheel under test is what gets installed. The command's text stays as written."""
    return {"PIP_FIND_LINKS": str(house), "PIP_NO_INDEX": "1"}
