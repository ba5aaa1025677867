"""The harness with a small fake dataset and a fake method, as one rank of a distributed test run:

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py <compare flags>

Test switches (environment):
  FAKE_KILL_RANK=r, FAKE_KILL_AT=n  rank r kills itself (SIGKILL, no clean-up) at its n-th fake-echo episode
  FAKE_OTHER_DATA_RANK=r            rank r's test sentences end in '!' (its episode set hash differs)
  FAKE_FIT_LOG=path                 every fake-echo fit appends "<rank> <first support sentence's source>"
"""
from __future__ import annotations

import os
import signal
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout comes first

from benchmarks import compare  # noqa: E402
from fake_gazetteer import FakeGazetteer, synthetic_sentences  # noqa: E402  (beside this script)
from ner_fewshot.data.types import Dataset, EntityType, LabelSet, Sentence  # noqa: E402
from ner_fewshot.methods import register_method  # noqa: E402

NAMES = {"person": ["Alice", "Bob", "Carol", "Dmitri", "Emeka", "Fatima"],
         "city": ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Quito"],
         "company": ["Acme", "Globex", "Initech", "Hooli", "Stark", "Wayne"]}
FILLER = ["met", "visited", "left", "joined", "near", "with", "today", "and"]


def _sentences(count: int, seed: int, tag: str) -> tuple[Sentence, ...]:
    return synthetic_sentences(count, seed, tag, NAMES, FILLER)


LABELS = LabelSet(tuple(EntityType(n, (n,), f"a {n}") for n in sorted(NAMES)))


def dataset() -> Dataset:
    test = _sentences(60, 2, "test")
    if os.environ.get("FAKE_OTHER_DATA_RANK") == os.environ.get("RANK", "0"):
        test = tuple(Sentence(s.words + ("!",), s.spans, s.source) for s in test)
    return Dataset("fake-ds", {"pool": _sentences(120, 1, "pool"), "test": test}, LABELS)


def catalog():
    return types.SimpleNamespace(available_datasets=lambda: ["fake-ds"], dataset_info=lambda name: "fake",
                                 load_dataset=lambda name, data_dir=None: dataset())


class Echo(FakeGazetteer):
    """Deterministic; the test switches (kill a rank, log fits) act on this method only."""

    name = "fake-echo"

    def fit(self, support, label_set):
        if self.name == "fake-echo":  # the test switches act on this method only
            self._fits = getattr(self, "_fits", 0) + 1
            rank = os.environ.get("RANK", "0")
            if os.environ.get("FAKE_KILL_RANK") == rank and self._fits == int(os.environ.get("FAKE_KILL_AT", "1")):
                os.kill(os.getpid(), signal.SIGKILL)
            if os.environ.get("FAKE_FIT_LOG"):
                with open(os.environ["FAKE_FIT_LOG"], "a", encoding="utf-8") as log:
                    log.write(f"{rank} {support[0].source}\n")
        super().fit(support, label_set)


class Flaky(Echo):
    """Crashes on the episodes whose first support sentence has an odd line number: the same ones on any rank."""

    name = "fake-flaky"

    def fit(self, support, label_set):
        if int(support[0].source.rsplit(":", 1)[1]) % 2:
            raise RuntimeError(f"deliberate crash on the episode starting with {support[0].source}")
        super().fit(support, label_set)


METHODS = (Echo, Flaky)


def run_args(output_dir, *extra: str) -> list[str]:
    return ["--datasets", "fake-ds", "--methods", "string-match,fake-echo,fake-flaky", "--ways", "2", "--shots", "1",
            "--episodes", "6", "--query-size", "10", "--output-dir", str(output_dir), "--no-progress", *extra]


def main(argv: list[str]) -> int:
    for method in METHODS:
        register_method(method)
    compare._catalog = catalog
    return compare.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
