"""docs/architecture.md: imports go down the layers, never up. Every `import` in a package (module level or inside a
function) may name only its own layer or a lower one."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hf_cser"

# lowest first; a module may import its own layer and every layer before it
LAYERS = [
    {"audio", "cache", "labels", "console", "metrics", "modeling_utils", "run_record", "hub", "model_card"},
    {"data", "normalization"},
    {"encoders"},
    {"losses", "models", "cltm", "analysis", "model_cards"},
    {"trainers"},
    {"experiments"},
    {"commands", "cli", "inference", "pipelines"},
]


def layer_of(name: str) -> int | None:
    top = name.split(".")[0]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    return None


def imported_hf_cser_modules(path: Path):
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # e.g. ("hf_cser", "data")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hf_cser."):
                    yield alias.name[len("hf_cser.") :], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(package[: len(package) - node.level + 1])
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.startswith("hf_cser."):
                yield name[len("hf_cser.") :], node.lineno
            elif name == "hf_cser":
                for alias in node.names:
                    yield alias.name, node.lineno


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", "."))}
    names = {n for n in names if (PACKAGE / n).is_dir() or (PACKAGE / f"{n}.py").is_file()}
    assert {n for n in names if layer_of(n) is None} == set()


def test_no_import_goes_up_a_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "__init__.py":
            continue
        own = layer_of(relative.parts[0].removesuffix(".py"))
        for name, line in imported_hf_cser_modules(path):
            target = layer_of(name)
            if target is not None and target > own:
                upward.append(f"{relative}:{line} imports hf_cser.{name}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    module = PACKAGE / "data" / "schema.py"
    found = [name for name, _ in imported_hf_cser_modules(module)]
    assert found and all(layer_of(n) is not None and layer_of(n) <= layer_of("data") for n in found)
    fake = tmp_path / "hf_cser" / "data" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ..trainers import SapaTrainer\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "hf_cser")
    assert [(n, layer_of(n)) for n, _ in imported_hf_cser_modules(fake)] == [("trainers", 4)]


def test_library_code_reports_through_the_logger_not_print():
    """Only the CLI (hf_cser/commands, hf_cser/cli.py) prints; library functions log, or hand their report lines to
    an `echo` callable (the training scripts pass `print`)."""
    printing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("commands", "cli.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{relative}:{node.lineno}")
    assert printing == []
