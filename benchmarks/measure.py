"""What the harness measures around one episode: wall time and peak memory.

Memory (documented in docs/benchmarks.md):
  * `peak_rss_mb`: the highest resident set size of the whole process while the episode ran
    (fit + predict), sampled every 20 ms from /proc/self/statm by a background thread. It includes
    the loaded backbone, so it answers "how much RAM does running this method need".
  * `rss_delta_mb`: that peak minus the RSS just before the episode started (what the episode added).
  * `cuda_peak_mb`: torch.cuda.max_memory_allocated during the episode when CUDA is in use, else None.
Where /proc is missing (macOS, Windows) the RSS figures fall back to `resource.getrusage`'s
lifetime maximum and the delta is None.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1024 * 1024


def current_rss_bytes() -> int | None:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def _lifetime_max_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux reports KiB, macOS bytes


def _cuda():
    torch = sys.modules.get("torch")  # never import torch just to measure a method that does not use it
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda
    return None


class PeakMemory:
    """Context manager: `with PeakMemory() as peak: ...`, then `peak.as_dict()`."""

    def __init__(self, interval_seconds: float = 0.02) -> None:
        self.interval = interval_seconds
        self.start_rss: int | None = None
        self.peak_rss: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cuda_peak: int | None = None

    def _sample(self) -> None:
        rss = current_rss_bytes()
        if rss is not None and (self.peak_rss is None or rss > self.peak_rss):
            self.peak_rss = rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self.start_rss = current_rss_bytes()
        self.peak_rss = self.start_rss
        cuda = _cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        if self.start_rss is not None:
            self._thread = threading.Thread(target=self._loop, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        if self.start_rss is None:
            self.peak_rss = _lifetime_max_rss_bytes()
        cuda = _cuda()
        if cuda is not None:
            self._cuda_peak = cuda.max_memory_allocated()

    def as_dict(self) -> dict[str, float | None]:
        def mb(value: int | None) -> float | None:
            return None if value is None else round(value / MB, 1)

        delta = None
        if self.start_rss is not None and self.peak_rss is not None:
            delta = self.peak_rss - self.start_rss
        return {"peak_rss_mb": mb(self.peak_rss), "rss_delta_mb": mb(delta), "cuda_peak_mb": mb(self._cuda_peak)}
