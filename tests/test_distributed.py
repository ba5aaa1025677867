"""A benchmark run sharded over 2 CPU processes (gloo): the table equals the single-process table, a
killed rank stops the others and --resume finishes the run, ranks that built different episodes refuse
to start. Plus in-process checks of the job assignment, the shard merge and the silent-rank watch.

The multi-process tests start real processes: through torchrun (what users type), or with the torchrun
variables set by hand, as a cluster launcher would, so that no torchrun agent tears the run down and
the harness's own liveness check must notice the dead rank.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch.distributed as dist

import distributed_worker as worker
from benchmarks import compare, distributed, shards
from benchmarks.bench_distributed import comparable_table as comparable
from benchmarks.results import ResultStore
from ner_fewshot.evaluation import score_episode
from ner_fewshot.methods import register_method, unregister_method

WORKER = Path(__file__).with_name("distributed_worker.py")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

pytestmark = pytest.mark.usefixtures("restore_data_env")


@pytest.fixture
def in_process(monkeypatch):
    """The worker's fake dataset and method in this process (single-process runs)."""
    monkeypatch.setattr(compare, "_catalog", worker.catalog)
    for method in worker.METHODS:
        register_method(method)
    yield lambda argv: compare.main(argv)
    for method in worker.METHODS:
        unregister_method(method.name)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    return {**env, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}


def torchrun(argv: list[str], **extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), *argv]
    return subprocess.run(command, env=_env(**extra), capture_output=True, text=True, timeout=180)


def launch_ranks(argv: list[str], size: int = 2, **extra: str) -> list[SimpleNamespace]:
    """`size` ranks started directly (no torchrun agent), as a cluster launcher would."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = []
    for rank in range(size):
        env = _env(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), **extra)
        processes.append(subprocess.Popen([sys.executable, str(WORKER), *argv], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    finished = []
    for process in processes:
        output, _ = process.communicate(timeout=180)
        finished.append(SimpleNamespace(returncode=process.returncode, output=output))
    return finished


def jobs_of(output_dir: Path) -> Counter:
    return Counter((r["method"], r["episode_id"]) for r in
                   (json.loads(line) for line in (output_dir / "results.jsonl").read_text().splitlines()))


def test_two_ranks_under_torchrun_give_the_single_process_table(tmp_path, in_process):
    assert in_process(worker.run_args(tmp_path / "one")) == 0
    done = torchrun(worker.run_args(tmp_path / "two"))
    assert done.returncode == 0, done.stdout + done.stderr

    one, two = tmp_path / "one", tmp_path / "two"
    assert comparable(two / "table.json") == comparable(one / "table.json")
    assert (two / "methods.json").read_text() == (one / "methods.json").read_text()
    assert jobs_of(two) == jobs_of(one) and set(jobs_of(two).values()) == {1}  # 18 jobs, each once
    flaky = json.loads((two / "table.json").read_text())["tables"][0]["rows"][2]
    assert flaky["method"] == "fake-flaky" and flaky["n_failed"] > 0 and flaky["n_ok"] > 0  # crashes recorded
    assert not (two / shards.SHARD_DIR).exists()
    ranks = json.loads((two / "manifest.json").read_text())["distributed"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and sum(r["jobs"] for r in ranks) == 18
    assert all(r["busy_seconds"] > 0 and r["jobs"] > 0 for r in ranks)
    assert done.stdout.count("fake-ds/2-way/1~2-shot (") == 1  # rank 0 alone prints the table


def test_a_killed_rank_stops_the_others_and_resume_finishes_the_run(tmp_path, in_process, monkeypatch):
    assert in_process(worker.run_args(tmp_path / "one")) == 0
    out, log = tmp_path / "two", tmp_path / "fits.log"
    # Rank 1 dies (SIGKILL) on its second fake-echo episode; rank 0 must notice its silence and stop.
    rank0, rank1 = launch_ranks(worker.run_args(out, "--dist-timeout", "3"), FAKE_KILL_RANK="1", FAKE_KILL_AT="2",
                                FAKE_FIT_LOG=str(log))
    assert rank1.returncode == -9, rank1.output
    assert rank0.returncode == 1, rank0.output
    assert "rank 1 has given no sign of life" in rank0.output and "--resume" in rank0.output
    assert sorted(p.name for p in (out / shards.SHARD_DIR).iterdir() if p.suffix == ".jsonl") == \
        ["results.rank0.jsonl", "results.rank1.jsonl"]
    fitted_before = log.read_text().splitlines()

    # Resume with another world size (one process): only the missing jobs run.
    monkeypatch.setenv("FAKE_FIT_LOG", str(log))
    assert in_process(worker.run_args(out, "--resume")) == 0
    fitted = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    assert len(fitted) > len(fitted_before) and Counter(fitted) == Counter(set(fitted)) and len(fitted) == 6
    assert comparable(out / "table.json") == comparable(tmp_path / "one" / "table.json")
    assert not (out / shards.SHARD_DIR).exists()


def test_ranks_that_built_different_episodes_refuse_to_run(tmp_path):
    out = tmp_path / "run"
    ranks = launch_ranks(worker.run_args(out), FAKE_OTHER_DATA_RANK="1")
    for rank in ranks:
        assert rank.returncode == 2, rank.output
        assert "rank 1 built a different run than rank 0 (episode set: rank 0 has" in " ".join(rank.output.split())
    assert not out.exists()  # nothing was run or written


# ---- in-process: assignment, merge, liveness ----------------------------------------------------------

def _episode(index: int, support: int, query: int = 10) -> SimpleNamespace:
    return SimpleNamespace(id=f"e{index}", support=[None] * support, query=[None] * query)


def test_jobs_go_longest_first_to_the_least_loaded_rank_and_skip_done_ones():
    episodes = [_episode(i, support) for i, support in enumerate([3, 30, 5, 12, 7, 25, 4, 9])]
    done = {("protobert", "e1"), ("string-match", "e0")}
    assignment = shards.assign_jobs(["string-match", "protobert", "cllmfs"], episodes,
                                    lambda m, e: (m, e) in done, ranks=3)
    jobs = [(job.method, job.episode_id) for share in assignment.shares for job in share]
    assert len(jobs) == len(set(jobs)) == 3 * 8 - 2 and not done & set(jobs)
    costs = {(m, e.id): shards.expected_cost(m, e) for m in ("string-match", "protobert", "cllmfs") for e in episodes}
    loads = [sum(costs[(j.method, j.episode_id)] for j in share) for share in assignment.shares]
    assert loads == pytest.approx(assignment.expected)
    assert max(loads) - min(loads) <= max(costs.values())  # LPT bound: within one job
    for share in assignment.shares:  # run order: each method's episodes together, in episode order
        order = [(["string-match", "protobert", "cllmfs"].index(j.method), int(j.episode_id[1:])) for j in share]
        assert order == sorted(order)


def _record(method: str, episode_id: str, status: str = "ok") -> dict:
    record = {"method": method, "episode_id": episode_id, "setting": "s", "status": status, "config_hash": "c",
              "episode_hash": "h", "error": None}
    if status == "ok":
        record.update(predictions=[[]], score=score_episode([[]], [[]]).to_dict(), fit_seconds=0.1, predict_seconds=0.1)
    return record


def test_shards_of_four_ranks_merge_and_a_two_rank_resume_gets_only_the_rest(tmp_path):
    episode_ids = [f"e{i}" for i in range(8)]
    (tmp_path / shards.SHARD_DIR).mkdir()
    for rank in range(4):  # a 4-rank run that died: each rank finished episodes rank and rank + 4, except rank 3
        store = ResultStore(shards.results_shard(tmp_path, rank))
        for index in ((rank,) if rank == 3 else (rank, rank + 4)):
            store.append(_record("m", f"e{index}", "failed" if index == 6 else "ok"))
        shards.infos_shard(tmp_path, rank).write_text(json.dumps({"m": {"backbone": f"rank {rank}"}}))
    with shards.results_shard(tmp_path, 3).open("a") as handle:
        handle.write('{"method": "m", "episode_id": "e7", "sta')  # killed mid-write
    report = shards.merge_shards(tmp_path, ["m"], episode_ids)

    assert report.records == 7 and len(report.damaged) == 1 and "results.rank3.jsonl line 2" in report.damaged[0]
    assert not (tmp_path / shards.SHARD_DIR).exists()
    loaded = ResultStore(tmp_path / "results.jsonl").load()
    assert [eid for (_, eid) in loaded.records] == episode_ids[:7]  # merged in episode order
    # The description comes from the rank that ran the latest episode (e6, rank 2), as in one process.
    assert json.loads((tmp_path / "methods.json").read_text())["m"]["backbone"] == "rank 2"
    episodes = [_episode(i, 5) for i in range(8)]
    again = shards.assign_jobs(["m"], episodes, loaded.done, ranks=2)
    assert sorted(j.episode_id for share in again.shares for j in share) == ["e6", "e7"]
    assert all(len(share) == 1 for share in again.shares)


def _session(rank: int, timeout: float, store) -> distributed.Session:
    session = distributed.Session(distributed.World(rank, 2, rank), timeout)
    session._store = store
    return session


def test_a_silent_rank_is_reported_instead_of_waited_for():
    store = dist.HashStore()
    start = time.monotonic()
    with pytest.raises(distributed.RankLost, match=r"rank 1 has given no sign of life .*--resume"):
        _session(0, 0.4, store).finish({"busy_seconds": 1.0})
    assert time.monotonic() - start < 5

    store = dist.HashStore()
    _session(1, 0.4, store).finish({"busy_seconds": 2.0})  # rank 1 is done: rank 0 gets both reports
    reports = _session(0, 0.4, store).finish({"busy_seconds": 1.0})
    assert [(r["rank"], r["busy_seconds"]) for r in reports] == [(0, 1.0), (1, 2.0)]


def test_a_busy_rank_that_beats_is_waited_for():
    store = dist.HashStore()
    worker_rank = _session(1, 0.3, store)
    heart = threading.Thread(target=worker_rank._beat, daemon=True)
    heart.start()  # rank 1 works for 1 s, far longer than the timeout, but its heart beats
    finisher = threading.Timer(1.0, lambda: worker_rank.finish({"busy_seconds": 1.0}))
    finisher.start()
    reports = _session(0, 0.3, store).finish({"busy_seconds": 0.0})
    worker_rank.close()
    assert [r["rank"] for r in reports] == [0, 1]


def test_world_comes_from_the_torchrun_variables():
    assert distributed.detect_world({}) == distributed.World(0, 1, 0)
    assert distributed.detect_world({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == distributed.World(3, 4, 1)
    for bad in ({"WORLD_SIZE": "two"}, {"WORLD_SIZE": "2", "RANK": "2"}):
        with pytest.raises(distributed.DistributedError, match="RANK"):
            distributed.detect_world(bad)


def test_each_rank_needs_its_own_gpu():
    world = distributed.World(1, 2, 1)
    assert "fixed GPU" in distributed.device_problem(world, {"protobert": {"device": "cuda:0"}}, gpus=2)
    assert "only 1 GPU" in distributed.device_problem(world, {"protobert": {"device": "auto"}}, gpus=1)
    assert distributed.device_problem(world, {"protobert": {"device": "cpu"}}, gpus=1) is None
    assert distributed.device_problem(world, {"protobert": {"device": "auto"}}, gpus=2) is None
