"""Lint and format are part of CI: ruff (configured in pyproject.toml) on the library, scripts, benchmarks, tests."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_passes():
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr


def test_the_project_configuration_fails_bad_code(tmp_path):
    """With the project's configuration, an unused import, a 120-column line and unformatted code fail the checks."""
    config = str(ROOT / "pyproject.toml")
    for source in ("import os\n", "x = '" + "a" * 114 + "'\n"):
        (tmp_path / "probe.py").write_text(source)
        assert ruff("check", "--no-cache", "--config", config, str(tmp_path / "probe.py")).returncode != 0, source
    (tmp_path / "probe.py").write_text("x = {  'a':1}\n")
    assert ruff("format", "--check", "--config", config, str(tmp_path / "probe.py")).returncode != 0
