"""The architecture's import rules, checked on the source: layers only import downward."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD_PACKAGES = {
    "ner_fewshot.cllmfs": ROOT / "ner_fewshot" / "cllmfs",
    "baselines.prototype": ROOT / "baselines" / "prototype",
    "baselines.lightner": ROOT / "baselines" / "lightner",
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
    return names


def python_files(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", python_files(ROOT / "ner_fewshot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_baselines_or_benchmarks(path):
    bad = {m for m in imported_modules(path) if m.split(".")[0] in {"baselines", "benchmarks"}}
    assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("package", sorted(METHOD_PACKAGES))
def test_a_method_never_imports_another_method_or_the_harness(package):
    others = [name for name in METHOD_PACKAGES if name != package] + ["benchmarks"]
    for path in python_files(METHOD_PACKAGES[package]):
        bad = {m for m in imported_modules(path) if any(m == o or m.startswith(o + ".") for o in others)}
        assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("path", python_files(ROOT / "benchmarks"), ids=lambda p: str(p.relative_to(ROOT)))
def test_harness_finds_methods_only_through_the_registry(path):
    if path.name.startswith(("bench_", "dev_")):
        return  # speed benchmarks and dev-set tools of one method look inside that method directly
    bad = {m for m in imported_modules(path)
           if m.startswith("baselines") or any(m.startswith(p) for p in ("ner_fewshot.cllmfs", "ner_fewshot.methods.string_match"))}
    assert not bad, f"{path} imports methods directly: {bad}"


def test_no_module_is_too_long():
    long = [(str(p.relative_to(ROOT)), n) for folder in ("ner_fewshot", "baselines", "benchmarks")
            for p in python_files(ROOT / folder) if (n := len(p.read_text().splitlines())) > 600]
    assert not long, f"modules over 600 lines: {long}"
