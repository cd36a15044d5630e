"""Safe loading (issue 9): no unpickling of untrusted files anywhere in the package or the training scripts, and
saved model folders hold safetensors weights only."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "hf_cser").rglob("*.py"), *(ROOT / "training_scripts").glob("*.py")])


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            yield node, owner, name


def unsafe_calls(source: str) -> list[str]:
    found = []
    for node, owner, name in calls(ast.parse(source)):
        keywords = {k.arg: k.value for k in node.keywords}
        if owner == "torch" and name == "load":
            value = keywords.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                found.append(f"line {node.lineno}: torch.load without weights_only=True")
        if owner in ("pickle", "dill", "joblib") and name in ("load", "loads"):
            found.append(f"line {node.lineno}: {owner}.{name}")
        if owner == "np" and name == "load":
            value = keywords.get("allow_pickle")
            if isinstance(value, ast.Constant) and value.value is True:
                found.append(f"line {node.lineno}: np.load(allow_pickle=True)")
        value = keywords.get("trust_remote_code")
        if isinstance(value, ast.Constant) and value.value is True:
            found.append(f"line {node.lineno}: trust_remote_code=True")
    return found


def test_the_checker_catches_each_unsafe_pattern():
    bad = (
        "import torch, pickle, numpy as np\ntorch.load('a')\ntorch.load('a', weights_only=False)\n"
        "pickle.loads(b'')\nnp.load('x', allow_pickle=True)\nf(trust_remote_code=True)\n"
    )
    assert len(unsafe_calls(bad)) == 5
    assert unsafe_calls("import torch\ntorch.load('a', map_location='cpu', weights_only=True)\n") == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_loading(path):
    assert unsafe_calls(path.read_text()) == [], f"{path.relative_to(ROOT)}: unsafe loading"
