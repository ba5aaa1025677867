"""run.json: what an output folder's results were computed with, so that --resume can refuse to mix.

It records the episode set hash and each method's full config. A resume must use the same
episodes; a method already in the folder must have the same config (a new method may be added).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

RUN_FILE = "run.json"


class ResumeMismatch(RuntimeError):
    """--resume with options that differ from the ones the folder's results were computed with."""


def read_state(output_dir: Path) -> dict[str, Any] | None:
    path = output_dir / RUN_FILE
    if not path.exists():
        return None
    fix = "Start a fresh run (drop --resume or choose another --output-dir)."
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResumeMismatch(f"{path} is not valid JSON ({error}); cannot tell what its results mean. {fix}") from None
    problem = _state_problem(state)
    if problem:
        raise ResumeMismatch(f"{path} is damaged ({problem}); cannot tell what its results mean. {fix}")
    return state


def _state_problem(state: Any) -> str | None:
    if not isinstance(state, dict):
        return f"expected a JSON object, got {type(state).__name__}"
    if not isinstance(state.get("episode_hash"), str):
        return "no episode_hash string"
    methods = state.get("methods")
    if not isinstance(methods, dict) or not all(isinstance(c, dict) for c in methods.values()):
        return "'methods' is not an object of method configs"
    if not isinstance(state.get("source_dataset"), (str, type(None))):
        return "'source_dataset' is neither a name nor null"
    return None


def check_resume(state: Mapping[str, Any], episode_hash: str, method_configs: Mapping[str, Mapping[str, Any]],
                 output_dir: Path, source_dataset: str | None = None, span_scoring: str = "sentence") -> None:
    fix = ("Resume with the original options, or drop --resume to start afresh "
           "(the old results are kept as results.previous-<n>.jsonl), or choose another --output-dir.")
    if state.get("episode_hash") != episode_hash:
        raise ResumeMismatch(
            f"cannot resume {output_dir}: its results were computed on episode set {str(state.get('episode_hash'))[:12]}, "
            f"but these options give episode set {episode_hash[:12]} (a different dataset, protocol, shots, ways, "
            f"episodes, seeds or query size). {fix}")
    if state.get("source_dataset") != source_dataset:
        raise ResumeMismatch(f"cannot resume {output_dir}: its methods were source-trained on "
                             f"{state.get('source_dataset')!r}, this run asks for {source_dataset!r}. {fix}")
    stored_scoring = state.get("profile", {}).get("span_scoring", "sentence")
    if stored_scoring != span_scoring:
        raise ResumeMismatch(f"cannot resume {output_dir}: its episodes were scored with span_scoring="
                             f"{stored_scoring!r}, this run asks for {span_scoring!r}. {fix}")
    stored = state.get("methods", {})
    for method, config in method_configs.items():
        if method in stored and json.dumps(stored[method], sort_keys=True, default=str) != json.dumps(config, sort_keys=True, default=str):
            changed = sorted(k for k in set(stored[method]) | set(config) if stored[method].get(k) != config.get(k))
            raise ResumeMismatch(f"cannot resume {output_dir}: method {method!r} ran with a different config "
                                 f"(changed: {changed}). {fix}")


def write_state(output_dir: Path, episode_hash: str, method_configs: Mapping[str, Mapping[str, Any]],
                profile: Mapping[str, Any], previous: Mapping[str, Any] | None) -> None:
    """`profile` must include `source_dataset` (checked on resume)."""
    methods = dict((previous or {}).get("methods", {}))
    methods.update(method_configs)
    state = {"episode_hash": episode_hash, "profile": dict(profile), "methods": methods,
             "source_dataset": profile.get("source_dataset")}
    path = output_dir / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
