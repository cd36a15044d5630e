"""Repository-level promises: the README's two commands and .ci/run agree, the layout users expect is there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- (main|test)-command -->\s*```bash\n(.+?)\n```", text, flags=re.S)
    return dict(blocks)


def test_readme_has_exactly_the_two_quick_start_commands():
    commands = readme_commands()
    assert set(commands) == {"main", "test"}
    for name, command in commands.items():
        assert "\n" not in command.strip(), f"the README's {name} command must be one line"


def test_ci_runs_the_readme_test_command_verbatim():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_lines = [ln for ln in lines if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == [readme_commands()["test"].strip()]


def test_torch_is_installed_from_the_cpu_wheel_before_the_package():
    for command in readme_commands().values():
        assert command.index("torch==") < command.index(" -e "), "torch must be installed before the package"


def test_layout_users_expect():
    for path in ("setup.cfg", "pyproject.toml", "hf_cser", "tests", "README.md", ".ci/run"):
        assert (ROOT / path).exists(), path
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "[build-system]" in pyproject and "[project]" not in pyproject  # metadata lives in setup.cfg


@pytest.mark.parametrize("document", ["README.md", "docs/claims.md"])
def test_every_test_the_readme_cites_exists(document):
    """README sections (and docs/claims.md) back their guarantees with test names (`tests/x.py::test_y`); each must
    exist."""
    text = (ROOT / document).read_text()
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    for path, more in re.findall(r"(tests/[\w/]+\.py)::\w+`((?:, `::\w+`)+)", text):  # `a.py::x`, `::y`
        cited += [(path, n) for n in re.findall(r"::(\w+)", more)]
    assert len(cited) >= 10
    missing = [f"{p}::{n}" for p, n in cited if f"def {n}(" not in (ROOT / p).read_text()]
    assert not missing, f"{document} cites tests that do not exist: {missing}"
    for path in re.findall(r"`(tests/[\w/]+\.py)`", text):
        assert (ROOT / path).is_file(), f"{document} cites a missing test file: {path}"
