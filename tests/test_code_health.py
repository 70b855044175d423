"""The code-health gates of CI, run by `bash bin/test` like every other test.

Each runs a tool over the repository as a developer would from its root and fails with the tool's
output: ruff (lint, then formatting), mypy with django-stubs over `realtime/` (configuration in
pyproject.toml), ESLint over the browser scripts and their unit tests (eslint.config.js; installed by
`npm ci`, which bin/test runs). Coverage of `realtime/` has its floor in pyproject.toml
(`[tool.coverage.report] fail_under`), measured by .ci/run's first pass.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PYTHON_TREES = ["realtime", "tests", "project", "bench"]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def report(result: subprocess.CompletedProcess[str], fix: str) -> str:
    return f"{' '.join(result.args)} exited with {result.returncode}. {fix}\n{result.stdout}\n{result.stderr}"


def test_ruff_finds_nothing():
    result = run(sys.executable, "-m", "ruff", "check", *PYTHON_TREES)
    assert result.returncode == 0, report(result, "Fix what it lists (`ruff check --fix` does some).")


def test_the_code_is_formatted():
    result = run(sys.executable, "-m", "ruff", "format", "--check", *PYTHON_TREES)
    assert result.returncode == 0, report(result, f"Run `ruff format {' '.join(PYTHON_TREES)}`.")


def test_mypy_finds_no_type_errors():
    result = run(sys.executable, "-m", "mypy")  # files and options: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, report(result, "Fix the types (a `# type: ignore` needs a reason).")


def test_eslint_finds_nothing():
    if not ESLINT.exists():
        if shutil.which("npm") is None:
            pytest.fail("ESLint needs Node.js and npm: run `bash bin/test`, which installs them.")
        pytest.fail("ESLint is not installed: run `npm ci` at the repository root (bin/test does).")
    # Every file eslint.config.js covers; --max-warnings 0: a warning fails the gate too.
    result = run(str(ESLINT), "--max-warnings", "0")
    assert result.returncode == 0, report(result, "Fix what it lists (see eslint.config.js for the rules).")
