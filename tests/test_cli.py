import subprocess
import sys

import pytest

from hf_cser.cli import COMMAND_MODULES, main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name.replace("_", "-") in out


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: hf-cser" in capsys.readouterr().out


def test_console_script_entry_point_runs():
    command = [sys.executable, "-m", "hf_cser.cli", "--version"]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("hf_cser ")
