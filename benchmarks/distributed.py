"""One benchmark run over several processes: `torchrun --nproc_per_node N -m benchmarks.compare <flags>`.

torchrun (or any launcher that sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT) starts
one harness per process. Every rank builds the run from the same flags; `Session.agree` checks over a
collective that all ranks built the same one. Rank 0 alone prepares the output folder, the jobs are
split (benchmarks/shards.py), and `Session.finish` is the barrier before rank 0 merges.

The process group is gloo, also on GPU machines: the harness only exchanges a few small messages, gloo
honours a timeout on every operation, and NCCL would reserve memory on every GPU that the methods
need. Each rank's methods see `cuda:{LOCAL_RANK}` as their CUDA device ("auto" and "cuda" resolve
to the current device, which is set here).

Liveness: a rank that dies under torchrun makes torchrun stop the others. Under other launchers, or
when a node vanishes, every rank beats a counter in the rendezvous store while it works; rank 0, once
done, waits for the others and gives up with a clear message when a rank has not beaten for
`--dist-timeout` seconds. Collectives use the same timeout (at least MIN_COLLECTIVE_SECONDS).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping

DEFAULT_TIMEOUT_SECONDS = 600.0
# Ranks reach the first collective after their own imports and data loading, which can differ by more
# than a short --dist-timeout on a busy machine: collectives never wait less than this.
MIN_COLLECTIVE_SECONDS = 120.0
BACKEND = "gloo"


class DistributedError(RuntimeError):
    """A distributed run cannot go on; the message says why and what to do."""


class RunMismatch(DistributedError):
    """Ranks built different runs (episodes, method configs, flags)."""


class RankLost(DistributedError):
    """A rank stopped answering: dead process, lost node or network."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def detect_world(environ: Mapping[str, str] | None = None) -> World:
    """This process's place in a torchrun job; a single process when WORLD_SIZE is not set."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return World()
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    try:
        rank, size = int(env.get("RANK", "0")), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        values = ", ".join(f"{n}={env.get(n)!r}" for n in names)
        raise DistributedError(f"torchrun variables must be integers, got {values}") from None
    if size < 1 or not 0 <= rank < size or local_rank < 0:
        values = ", ".join(f"{n}={env.get(n)!r}" for n in names)
        raise DistributedError(f"inconsistent torchrun variables {values}: need 0 <= RANK < WORLD_SIZE")
    return World(rank, size, local_rank)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dist-timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                        help="under torchrun: how long a rank may go silent before the others stop with an "
                             f"error (collectives wait at least {MIN_COLLECTIVE_SECONDS:g} s); default "
                             f"{DEFAULT_TIMEOUT_SECONDS:g}")


def device_problem(world: World, configs: Mapping[str, Mapping[str, Any]], gpus: int | None = None) -> str | None:
    """Why these method devices cannot run under this world, or None. `gpus`: visible CUDA devices."""
    if not world.distributed:
        return None
    fixed = sorted(m for m, c in configs.items() if str(c.get("device", "")).startswith("cuda:"))
    if fixed:
        return (f"method(s) {fixed} ask for a fixed GPU ({configs[fixed[0]]['device']}), which would put every rank of "
                "a machine on it; under torchrun each rank uses cuda:LOCAL_RANK: use --device cuda (or auto)")
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    on_gpu = sorted(m for m, c in configs.items() if c.get("device") in ("cuda", "auto"))
    if gpus and on_gpu and world.local_rank >= gpus:
        return (f"LOCAL_RANK {world.local_rank} but only {gpus} GPU(s) visible for {on_gpu}: start at most {gpus} "
                "process(es) per machine (--nproc_per_node), or run these methods with --device cpu")
    return None


class Session:
    """This process's part of the run; every method is a no-op in a single process."""

    def __init__(self, world: World, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.world = world
        self.timeout = float(timeout_seconds)
        self.collective_timeout = max(self.timeout, MIN_COLLECTIVE_SECONDS)
        self.host = socket.gethostname()
        self._store = None
        self._prefix = ""
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None

    # ---- set-up and tear-down ------------------------------------------------------------------------

    @classmethod
    def start(cls, world: World, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> "Session":
        session = cls(world, timeout_seconds)
        if world.distributed:
            session._connect()
        return session

    def _connect(self) -> None:
        import torch
        import torch.distributed as dist

        if torch.cuda.is_available() and self.world.local_rank < torch.cuda.device_count():
            torch.cuda.set_device(self.world.local_rank)  # "cuda" and "auto" now mean cuda:LOCAL_RANK
        missing = [n for n in ("MASTER_ADDR", "MASTER_PORT") if n not in os.environ]
        if missing:
            raise DistributedError(f"WORLD_SIZE={self.world.size} but {missing} not set: start the run with torchrun")
        try:
            dist.init_process_group(BACKEND, timeout=timedelta(seconds=self.collective_timeout))
        except Exception as error:  # the store or a peer did not answer within the timeout
            raise RankLost(f"rank {self.world.rank}: could not join the other {self.world.size - 1} rank(s) within "
                           f"{self.collective_timeout:g} s ({type(error).__name__}: {error})") from None
        self._store = dist.distributed_c10d._get_default_store()
        self._prefix = f"ner-fewshot/{self.from_main(uuid.uuid4().hex)}/"  # fresh keys if torchrun restarts us
        self._heart = threading.Thread(target=self._beat, name="rank-heartbeat", daemon=True)
        self._heart.start()

    def close(self) -> None:
        self._stop.set()
        if self.world.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- collectives ---------------------------------------------------------------------------------

    def _collective(self, what: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as error:  # gloo: a peer closed its connection, or the timeout passed
            raise RankLost(f"rank {self.world.rank}: {what} failed: another rank stopped or did not answer within "
                           f"{self.collective_timeout:g} s ({type(error).__name__}: {error}). Results written so far "
                           "are kept; rerun the same command with --resume") from None

    def from_main(self, value: Any) -> Any:
        """Rank 0's `value`, on every rank."""
        if not self.world.distributed:
            return value
        import torch.distributed as dist

        box = [value if self.world.main else None]
        self._collective("receiving rank 0's message", lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def agree(self, identity: Mapping[str, Any]) -> None:
        """Raise RunMismatch on every rank unless all ranks built the same run as rank 0."""
        if not self.world.distributed:
            return
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world.size
        self._collective("comparing the run with the other ranks",
                         lambda: dist.all_gather_object(gathered, dict(identity)))
        reference = gathered[0]
        for rank, other in enumerate(gathered):
            if other != reference:
                fields = sorted(k for k in set(reference) | set(other) if reference.get(k) != other.get(k))
                details = "; ".join(f"{k}: rank 0 has {_short(reference.get(k))}, rank {rank} has {_short(other.get(k))}"
                                    for k in fields)
                raise RunMismatch(f"rank {rank} built a different run than rank 0 ({details}). Every rank must see "
                                  "the same flags, data files and code (check --data-dir and the installed versions on "
                                  "every node). Nothing was run.")

    # ---- liveness and the final barrier -------------------------------------------------------------

    def _key(self, kind: str, rank: int) -> str:
        return f"{self._prefix}{kind}/{rank}"

    def _beat(self) -> None:
        interval = max(0.05, min(5.0, self.timeout / 5))
        while True:
            try:
                self._store.add(self._key("beat", self.world.rank), 1)
            except Exception:  # the store is gone (run torn down): nothing left to signal
                return
            if self._stop.wait(interval):
                return

    def finish(self, report: Mapping[str, Any], on_wait: Callable[[list[int]], None] | None = None) -> list[dict]:
        """Announce that this rank's jobs are done. On rank 0: wait for every rank, return all reports
        (rank order); on other ranks: return [] at once. Raises RankLost when a rank went silent."""
        report = {"rank": self.world.rank, "local_rank": self.world.local_rank, "host": self.host, **report}
        if not self.world.distributed:
            return [report]
        try:
            self._store.set(self._key("done", self.world.rank), json.dumps(report))
        except Exception as error:
            raise RankLost(f"rank {self.world.rank}: cannot reach the rendezvous store to report its results "
                           f"({type(error).__name__}: {error}); they are in its shard, rerun with --resume") from None
        if not self.world.main:
            return []
        return self._wait_for_all(on_wait)

    def _wait_for_all(self, on_wait: Callable[[list[int]], None] | None) -> list[dict]:
        store, poll = self._store, max(0.05, min(0.25, self.timeout / 10))
        seen: dict[int, tuple[int, float]] = {}  # rank -> (beats, when that count was first seen)
        announced = False
        while True:
            try:
                pending = [r for r in range(self.world.size) if not store.check([self._key("done", r)])]
                if not pending:
                    return [json.loads(store.get(self._key("done", r))) for r in range(self.world.size)]
                now = time.monotonic()
                for rank in pending:
                    beats = store.add(self._key("beat", rank), 0)
                    if rank not in seen or seen[rank][0] != beats:
                        seen[rank] = (beats, now)
                    elif now - seen[rank][1] > self.timeout:
                        raise RankLost(
                            f"rank {rank} has given no sign of life for {now - seen[rank][1]:.0f} s (its process died, "
                            "or its node lost the network); stopping instead of waiting forever. Every finished "
                            "episode is saved in the output folder: rerun the same command with --resume to finish "
                            "the run (any number of ranks)")
            except RankLost:
                raise
            except Exception as error:
                raise RankLost(f"rank 0 lost the rendezvous store while waiting for ranks {pending} "
                               f"({type(error).__name__}: {error}); rerun with --resume") from None
            if not announced and on_wait is not None:
                on_wait(pending)
                announced = True
            time.sleep(poll)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def run_identity(episode_hash: str, configs: Mapping[str, Any], source_dataset: str | None,
                 resume: bool, span_scoring: str = "sentence") -> dict[str, Any]:
    """What every rank must agree on: the episodes, each method's full config, the source, --resume and
    the span scoring."""
    identity: dict[str, Any] = {"episode set": episode_hash[:12], "methods": list(configs),
                                "source dataset": source_dataset, "--resume": resume, "--span-scoring": span_scoring}
    for method, config in configs.items():
        text = json.dumps(config, sort_keys=True, default=str)
        identity[f"{method} config"] = hashlib.sha256(text.encode()).hexdigest()[:12]
    return identity
