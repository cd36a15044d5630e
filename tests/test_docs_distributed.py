"""docs/distributed.md and training_scripts/accelerate_configs: every config loads, every documented command names an
existing script and config and passes the script's own argument parser, and every script has every launch mode."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training_scripts" / "accelerate_configs"
DOC = ROOT / "docs" / "distributed.md"
SCRIPTS = ("train_sapa.py", "train_zero_shot.py", "train_ctl_mtnet.py", "train_feature_gan.py", "run_cltm.py")


def documented_commands() -> list[list[str]]:
    """The shell commands of the doc's ```bash blocks (continuation lines joined, env assignments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
                tokens = tokens[1:]
            if tokens:
                commands.append(tokens)
    return commands


def script_of(tokens: list[str]) -> tuple[str, list[str]]:
    """The `training_scripts/*.py` a command runs and the arguments after it."""
    for i, token in enumerate(tokens):
        if re.fullmatch(r"training_scripts/\w+\.py", token):
            return token, tokens[i + 1 :]
    raise AssertionError(f"no training_scripts/*.py in the documented command {shlex.join(tokens)!r}")


def launch_mode(tokens: list[str]) -> str:
    """The config file name of an `accelerate launch`, `torchrun` for torchrun / torch.distributed.run, or `python`."""
    if tokens[:2] == ["accelerate", "launch"]:
        return Path(tokens[tokens.index("--config_file") + 1]).name
    if tokens[0] == "torchrun" or tokens[:3] == ["python", "-m", "torch.distributed.run"]:
        return "torchrun"
    assert tokens[0] == "python", f"unknown launcher in {shlex.join(tokens)!r}"
    return "python"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_accelerate_config_loads_with_accelerates_own_loader(path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(path))  # raises on unknown keys or values
    assert config.num_processes >= 1 and config.num_machines >= 1
    assert config.num_processes % config.num_machines == 0, "processes must split evenly over the machines"
    if config.distributed_type == DistributedType.NO:
        assert config.num_processes == 1 and config.num_machines == 1
    if config.num_machines > 1:
        assert config.main_process_port, "a multi-node config needs the port of machine 0"
    assert f"accelerate launch --config_file training_scripts/accelerate_configs/{path.name}" in path.read_text()


def test_documented_commands_name_existing_scripts_and_configs_and_cover_every_launch_mode():
    commands = documented_commands()
    assert len(commands) >= 20
    configs = {p.name for p in CONFIGS.glob("*.yaml")}
    covered = set()
    for tokens in commands:
        script, _ = script_of(tokens)
        assert (ROOT / script).is_file(), script
        if "--config_file" in tokens:
            config = tokens[tokens.index("--config_file") + 1]
            assert (ROOT / config).is_file(), config
            assert config.startswith("training_scripts/accelerate_configs/"), config
        covered.add((Path(script).name, launch_mode(tokens)))
    for script in SCRIPTS:
        for mode in sorted(configs) + ["torchrun"]:
            assert (script, mode) in covered, f"docs/distributed.md has no {mode} command for {script}"


class _Parsed(Exception):
    """Raised by the patched parser once the script's arguments parsed (the run itself is not started)."""


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_script_{name[:-3]}", ROOT / "training_scripts" / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_documented_script_arguments_pass_each_scripts_parser(monkeypatch):
    from transformers import HfArgumentParser

    class StopAfterParsing(HfArgumentParser):
        def parse_args_into_dataclasses(self, *args, **kwargs):
            super().parse_args_into_dataclasses(*args, **kwargs)  # raises on an unknown flag, exits on a bad value
            raise _Parsed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    arguments = {}
    for tokens in documented_commands():
        script, argv = script_of(tokens)
        arguments.setdefault(Path(script).name, set()).add(tuple(argv))
    assert set(arguments) == set(SCRIPTS)
    for name, argvs in sorted(arguments.items()):
        module = _load_script(name)
        monkeypatch.setattr(module, "HfArgumentParser", StopAfterParsing)
        for argv in sorted(argvs):
            with pytest.raises(_Parsed):
                module.main(list(argv))
    # the check can fail: a flag the script does not have is refused
    with pytest.raises(ValueError, match="no_such_flag"):
        module.main(["--no_such_flag", "1"])


def test_cpu_config_starts_two_gloo_processes(tmp_path):
    """`accelerate launch --config_file cpu_ddp_2proc.yaml` really starts 2 processes in one gloo group (unlike
    `--cpu --num_processes 2`)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import torch.distributed as dist\n"
        "from accelerate import PartialState\n"
        "state = PartialState(cpu=True)\n"
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[1]) / f'rank{state.process_index}.txt'\n"
        "out.write_text(f'{state.process_index} {state.num_processes} {dist.get_backend()}')\n"
    )  # one file per process: the two processes' prints can interleave on the shared stdout pipe
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate),
        "launch",
        "--config_file",
        str(CONFIGS / "cpu_ddp_2proc.yaml"),
        "--main_process_port",
        str(port),
        str(probe),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = sorted(p.read_text().split() for p in tmp_path.glob("rank*.txt"))
    assert lines == [["0", "2", "gloo"], ["1", "2", "gloo"]]
