"""The suite installs cleanly: a wheel gives a working `ner-fewshot` anywhere, and the environment the
README's commands build (scripts/setup_env.sh: a per-checkout overlay on the shared venv) runs the
plugin walk-through of docs/plugins.md verbatim. Nothing is downloaded: every package comes from the
shared venv that is already installed."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import missing_asset

ROOT = Path(__file__).resolve().parents[1]
SHARED_SITE = Path(torch.__file__).resolve().parents[1]  # the site-packages holding the dependencies
SOURCES = ("ner_fewshot", "baselines", "benchmarks", "setup.cfg", "setup.py", "README.md")


def offline_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1", **extra)
    return env


def run(command, cwd, env, shell=False):
    result = subprocess.run(command, cwd=cwd, env=env, shell=shell, capture_output=True, text=True, timeout=600,
                            executable="/bin/bash" if shell else None)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_wheel_installs_a_working_console_script(tmp_path):
    source = tmp_path / "source"
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if (ROOT / name).is_dir() else {}))
    env = offline_env()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        tmp_path, env)
    [wheel] = (tmp_path / "dist").glob("ner_fewshot-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    site = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env).strip())
    (site / "_shared.pth").write_text(f"import site; site.addsitedir({str(SHARED_SITE)!r})\n")
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listing = run([venv / "bin" / "ner-fewshot", "methods"], elsewhere, env)
    for name in ("string-match", "protobert", "nnshot", "structshot", "lightner", "cllmfs"):
        assert re.search(rf"^{re.escape(name)}  ", listing, re.M), listing
    where = run([venv / "bin" / "python", "-c", "import ner_fewshot, benchmarks; print(ner_fewshot.__file__, benchmarks.__file__)"],
                elsewhere, env)
    assert where.count(str(site)) == 2, where  # the wheel's copy, not the checkout


def _plugin_walkthrough():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    code = re.search(r"`my_ner_plugin/__init__\.py`:\s*```python\n(.*?)```", text, re.S).group(1)
    pyproject = re.search(r"`pyproject\.toml` of the plugin package:\s*```toml\n(.*?)```", text, re.S).group(1)
    install, commands = re.search(r"After `(pip install [^`]+)`:\s*```bash\n(.*?)```", text, re.S).groups()
    return code, pyproject, install, commands


def test_plugin_walkthrough_runs_verbatim_in_the_readme_environment(tmp_path):
    shared_venv = SHARED_SITE.parents[2]
    if not (shared_venv / ".complete").exists():
        missing_asset(f"the shared venv of scripts/setup_env.sh (this test runs on {shared_venv}, not one of its overlays)")
    overlay = tmp_path / "overlay"
    env = offline_env(NER_FEWSHOT_VENV=str(shared_venv), NER_FEWSHOT_OVERLAY=str(overlay))
    assert run(["bash", str(ROOT / "scripts" / "setup_env.sh")], tmp_path, env).strip().splitlines()[-1] == str(overlay)
    code, pyproject, install, commands = _plugin_walkthrough()
    package = tmp_path / "my-ner-plugin" / "my_ner_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code)
    (package.parent / "pyproject.toml").write_text(pyproject)
    activated = {**env, "VIRTUAL_ENV": str(overlay), "PATH": f"{overlay / 'bin'}{os.pathsep}{env['PATH']}"}
    run(install, tmp_path, activated, shell=True)
    output = run(commands, tmp_path, activated, shell=True)
    assert re.search(r"^capitalised  ", output, re.M), output
    assert re.search(r"│ capitalised +│", output), output  # its row in the table
    assert run("ner-fewshot methods", tmp_path, activated, shell=True).count("capitalised") == 1
