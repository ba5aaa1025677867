"""A run split over ranks: which (method, episode) jobs each rank does, its results shard, and the merge.

Each rank appends its records to <output>/shards/results.rank<r>.jsonl (fsync-ed per record, like
results.jsonl) and its method descriptions to shards/methods.rank<r>.json. Rank 0 folds the shards
into results.jsonl and methods.json once every rank is done, and also at the start of a run, so that a
run that died before its merge is resumed from everything its ranks finished, whatever the number of
ranks then and now.
"""
from __future__ import annotations

import heapq
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .progress import RunProgress
from .results import LoadedResults, ResultStore
from .runner import DamagedInfo, EpisodeContext, MethodInfoStore, MethodRequest, run_method

SHARD_DIR = "shards"
_RESULTS_SHARD = re.compile(r"results\.rank(\d+)\.jsonl")
_INFOS_SHARD = re.compile(r"methods\.rank(\d+)\.json")

# Expected seconds of one episode relative to ProtoBERT, per (support sentence x query sentence). Only
# the balance between ranks depends on these guesses, never a result. A method not listed counts as 1.
METHOD_WEIGHTS = {"string-match": 0.02, "protobert": 1.0, "nnshot": 1.3, "structshot": 1.45,
                  "lightner": 40.0, "cllmfs": 400.0}


@dataclass(frozen=True)
class Job:
    method: str
    episode_id: str


def expected_cost(method: str, episode) -> float:
    return METHOD_WEIGHTS.get(method, 1.0) * max(1, len(episode.support)) * max(1, len(episode.query))


@dataclass
class Assignment:
    shares: list[list[Job]]  # per rank, in run order (method, then episode)
    expected: list[float]  # per rank, summed expected cost


def assign_jobs(methods: Sequence[str], episodes: Sequence, done: Callable[[str, str], bool],
                ranks: int) -> Assignment:
    """The jobs not done yet, longest expected first, each to the rank with the least expected work so
    far (LPT): ranks finish close together even when episode sizes and method costs differ a lot."""
    position = {episode.id: index for index, episode in enumerate(episodes)}
    jobs = [(expected_cost(method, episode), m, position[episode.id], Job(method, episode.id))
            for m, method in enumerate(methods) for episode in episodes if not done(method, episode.id)]
    jobs.sort(key=lambda job: (-job[0], job[1], job[2]))
    loads = [(0.0, rank) for rank in range(ranks)]
    shares: list[list[tuple[int, int, Job]]] = [[] for _ in range(ranks)]
    expected = [0.0] * ranks
    for cost, m, index, job in jobs:
        load, rank = heapq.heappop(loads)
        shares[rank].append((m, index, job))
        expected[rank] = load + cost
        heapq.heappush(loads, (load + cost, rank))
    # Run order inside a rank: by method, so that each method is loaded once per rank.
    return Assignment([[job for _, _, job in sorted(share, key=lambda s: s[:2])] for share in shares], expected)


def results_shard(output_dir: Path, rank: int) -> Path:
    return output_dir / SHARD_DIR / f"results.rank{rank}.jsonl"


def infos_shard(output_dir: Path, rank: int) -> Path:
    return output_dir / SHARD_DIR / f"methods.rank{rank}.json"


def run_share(requests: Sequence[MethodRequest], episodes: Sequence, share: Sequence[Job], context: EpisodeContext,
              output_dir: Path, rank: int, progress: RunProgress, source=None) -> None:
    """Run this rank's jobs into its own shard (every job is to do: no resume bookkeeping here)."""
    (output_dir / SHARD_DIR).mkdir(exist_ok=True)
    store, infos = ResultStore(results_shard(output_dir, rank)), MethodInfoStore(infos_shard(output_dir, rank))
    by_id = {episode.id: episode for episode in episodes}
    for request in requests:
        mine = [by_id[job.episode_id] for job in share if job.method == request.name]
        if mine:  # a method with nothing to do here is not even loaded
            run_method(request, mine, context, store, LoadedResults(), infos, progress, source)


@dataclass
class MergeReport:
    records: int = 0
    shards: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # "shards/results.rank1.jsonl line 7: <reason>"


def _shard_files(output_dir: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    folder = output_dir / SHARD_DIR
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), path) for path in folder.iterdir() if (m := pattern.fullmatch(path.name)))


def merge_shards(output_dir: Path, methods: Sequence[str], episode_ids: Sequence[str]) -> MergeReport:
    """Fold every shard into results.jsonl and methods.json, then delete the shards.

    Records go in (method, episode) order. A method's description comes from the shard holding its
    latest episode, as in one process, where the description is taken after the last episode."""
    report = MergeReport()
    shards, info_shards = _shard_files(output_dir, _RESULTS_SHARD), _shard_files(output_dir, _INFOS_SHARD)
    if not shards and not info_shards:
        return report
    method_position = {m: i for i, m in enumerate(methods)}
    episode_position = {e: i for i, e in enumerate(episode_ids)}
    records: list[dict[str, Any]] = []
    latest: dict[str, tuple[int, int]] = {}  # method -> (episode position, rank)
    for rank, path in shards:
        loaded = ResultStore(path).load()
        report.shards.append(path.name)
        report.damaged += [f"{SHARD_DIR}/{path.name} line {d.line_number}: {d.reason}" for d in loaded.damaged]
        for (method, episode_id), record in loaded.records.items():
            records.append(record)
            where = (episode_position.get(episode_id, -1), rank)
            if method not in latest or where > latest[method]:
                latest[method] = where
    records.sort(key=lambda r: (method_position.get(r["method"], len(method_position)), r["method"],
                                episode_position.get(r["episode_id"], len(episode_position)), r["episode_id"]))
    ResultStore(output_dir / "results.jsonl").append_many(records)
    report.records = len(records)

    infos_path = output_dir / "methods.json"
    merged = MethodInfoStore(infos_path).load()
    shard_infos = {rank: _read_infos(path) for rank, path in info_shards}
    for method in sorted({m for infos in shard_infos.values() for m in infos}):
        _, rank = latest.get(method, (-1, min(r for r, infos in shard_infos.items() if method in infos)))
        chosen = shard_infos.get(rank, {}).get(method)
        if chosen is not None:
            merged[method] = {**merged.get(method, {}), **chosen}
    _write_json_atomically(infos_path, merged)

    for _, path in shards:
        path.unlink()
    for _, path in info_shards:
        path.unlink()
    try:
        (output_dir / SHARD_DIR).rmdir()
    except OSError:  # something else lives there (a rank's temporary file): leave the folder
        pass
    return report


def _read_infos(path: Path) -> Mapping[str, dict[str, Any]]:
    try:
        return MethodInfoStore(path).load()
    except DamagedInfo:  # a hand-edited shard: the records still count, the row loses its details
        return {}


def _write_json_atomically(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def missing_jobs(assignment: Assignment, loaded: LoadedResults) -> dict[int, int]:
    """Per rank, how many of its jobs have no record after the merge (a shard written elsewhere)."""
    missing = {}
    for rank, share in enumerate(assignment.shares):
        count = sum((job.method, job.episode_id) not in loaded.records for job in share)
        if count:
            missing[rank] = count
    return missing
