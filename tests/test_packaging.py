"""The package as a user gets it: the wheel and sdist build, and the wheel installed into a clean
virtualenv gives a working app in a project made by `django-admin startproject`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_wheel_carries_templates_static_files_and_migrations(dist):
    [wheel] = dist.glob("django_realtime-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "realtime/py.typed",
        "realtime/static/realtime/realtime.js",
        "realtime/migrations/0001_initial.py",
        "realtime/streams/migrations/0001_initial.py",
        "realtime/streams/templates/realtime/streams/stream.html",
        "realtime/streams/static/realtime/streams/stream-view.js",
    ]:
        assert expected in names, expected
    assert not any(name.startswith(("tests/", "project/", "bench/")) for name in names)
    assert list(dist.glob("django_realtime-*.tar.gz"))


def test_the_installed_wheel_works_in_a_fresh_project(dist, tmp_path):
    [wheel] = dist.glob("django_realtime-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (tmp_path / "site").mkdir()
    clean_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # nothing of this test run's settings
    subprocess.run(
        [str(env_dir / "bin" / "django-admin"), "startproject", "mysite", str(tmp_path / "site")],
        check=True,
        timeout=60,
        env=clean_env,
    )
    settings = tmp_path / "site" / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text().replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "daphne",')
        + textwrap.dedent("""
        INSTALLED_APPS += ["channels", "realtime", "realtime.streams"]
        ASGI_APPLICATION = "mysite.asgi.application"
        from realtime.layers import memory_layer
        CHANNEL_LAYERS = {"default": memory_layer()}
        DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
    """)
    )
    script = textwrap.dedent("""
        import django, realtime
        django.setup()
        from django.contrib.staticfiles import finders
        from django.core.management import call_command
        from django.template.loader import get_template
        call_command("migrate", verbosity=0)
        get_template("realtime/streams/stream.html")
        for path in ("realtime/realtime.js", "realtime/streams/stream-view.js", "realtime/streams/danmaku.js"):
            assert finders.find(path), path
        from realtime.streams.models import Stream
        print("version", realtime.__version__, "streams", Stream.objects.count())
    """)
    result = subprocess.run(
        [str(python), "-c", script],
        cwd=tmp_path / "site",
        capture_output=True,
        text=True,
        env={**clean_env, "DJANGO_SETTINGS_MODULE": "mysite.settings"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    version = ROOT.joinpath("pyproject.toml").read_text().split('version = "', 1)[1].split('"', 1)[0]
    assert f"version {version} streams 0" in result.stdout
