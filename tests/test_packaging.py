"""The package as a user gets it: the wheel and sdist build, and the wheel installed into a clean
virtualenv gives a working app in a project made by `django-admin startproject`."""

from __future__ import annotations

import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.wheelkit import built_dist, clean_env, installed_venv, wheel_of


@pytest.fixture
def dist(tmp_path_factory) -> Path:
    """The wheel and sdist, built once per run (tests/wheelkit.py)."""
    return built_dist(tmp_path_factory)


def test_the_wheel_carries_templates_static_files_and_migrations(dist):
    names = set(zipfile.ZipFile(wheel_of(dist)).namelist())
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
    assert list(dist.glob("django_realtime_hub-*.tar.gz"))


def test_the_wheel_is_named_as_the_docs_say_and_claims_no_unpublished_address(dist):
    """`pip install django-realtime-hub` (README, docs, tutorial) finds this distribution; the index page
    it would get lists no repository or documentation address that does not exist."""
    wheel = zipfile.ZipFile(wheel_of(dist))
    [metadata] = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    headers = wheel.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "Name: django-realtime-hub" in headers
    assert not [line for line in headers if line.startswith(("Project-URL:", "Home-page:"))], headers
    assert {"realtime"} == {name.split("/")[0] for name in wheel.namelist() if ".dist-info" not in name}


def test_the_installed_wheel_works_in_a_fresh_project(tmp_path_factory, tmp_path):
    env_dir = installed_venv(tmp_path_factory)
    python = env_dir / "bin" / "python"
    (tmp_path / "site").mkdir()
    env = clean_env(tmp_path)  # nothing of this test run's settings
    subprocess.run(
        [str(env_dir / "bin" / "django-admin"), "startproject", "mysite", str(tmp_path / "site")],
        check=True,
        timeout=60,
        env=env,
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
        env={**env, "DJANGO_SETTINGS_MODULE": "mysite.settings"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    version = ROOT.joinpath("pyproject.toml").read_text().split('version = "', 1)[1].split('"', 1)[0]
    assert f"version {version} streams 0" in result.stdout
