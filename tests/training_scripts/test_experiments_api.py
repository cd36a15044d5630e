"""The training scripts are thin entry points into `hf_cser.experiments` (issue 17): each parses its argument
dataclasses and calls one `run_<method>` function, and that function, called from Python with the same dataclasses,
gives the script's results."""

import ast
import csv

import pytest

from .conftest import ROOT, load_script

SCRIPTS = {
    "train_sapa": "run_sapa",
    "train_zero_shot": "run_zero_shot",
    "train_ctl_mtnet": "run_ctl_mtnet",
    "train_feature_gan": "run_feature_gan",
    "run_cltm": "run_cltm",
}


@pytest.mark.parametrize("name, function", SCRIPTS.items())
def test_each_script_parses_its_arguments_and_calls_one_experiment_function(name, function):
    tree = ast.parse((ROOT / "training_scripts" / f"{name}.py").read_text())
    imported = {
        alias.name: node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert imported.get(function, "").startswith("hf_cser.experiments."), imported
    (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    calls = [n.func.id for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert function in calls
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert set(functions) <= {"main", "configure_logging"}, functions  # no experiment logic left in the script
    body = tree.body[1:]  # after the module docstring
    code_lines = body[-1].end_lineno - body[0].lineno + 1
    assert code_lines <= 60, code_lines


def test_the_experiment_called_from_python_gives_the_scripts_results(tiny_corpus, tmp_path):
    from hf_cser.experiments.ctl_mtnet import ModelArguments, ProtocolArguments, run_ctl_mtnet
    from hf_cser.trainers import CtlMtNetTrainingArguments

    def runs(folder):
        with open(folder / "ctl_mtnet_runs.csv") as handle:
            return [{k: v for k, v in row.items() if k != "world_size"} for row in csv.DictReader(handle)]

    source, target = f"synthetic:en@{tiny_corpus}", f"synthetic:zh@{tiny_corpus}"
    tiny = {"conv_filters": 4, "primary_capsule_types": 2, "primary_capsule_dim": 4, "digit_capsule_dim": 4}
    training = {"max_steps": 2, "per_device_train_batch_size": 4, "max_train_frames": 64, "use_cpu": True}
    summary = run_ctl_mtnet(
        ModelArguments(**tiny),
        ProtocolArguments(task="cross_corpus", source=source, target=target, feature_cache_dir=str(tmp_path / "m")),
        CtlMtNetTrainingArguments(str(tmp_path / "python"), report_to="none", disable_tqdm=True, **training),
    )
    argv = ["--task", "cross_corpus", "--source", source, "--target", target, "--output_dir", str(tmp_path / "cli")]
    argv += [f"--{k}={v}" for k, v in {**tiny, **training}.items()]
    argv += ["--report_to", "none", "--disable_tqdm", "true", "--feature_cache_dir", str(tmp_path / "m")]
    assert load_script("train_ctl_mtnet").main(argv) == summary
    assert runs(tmp_path / "python") == runs(tmp_path / "cli") and len(runs(tmp_path / "cli")) == 1
