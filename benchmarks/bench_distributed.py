"""Wall time of a run sharded over 2 processes against the same run in one process, 1 thread each.

    python -m benchmarks.bench_distributed [--ranks 2] [--episodes 40] [--repeats 1] [--keep DIR]

Runs `python -m benchmarks.compare <flags>` and `torchrun --standalone --nproc_per_node N -m
benchmarks.compare <flags>` (OMP_NUM_THREADS=1 for both) as subprocesses, so both walls include process
start-up, imports and data loading. Default flags: the prototype family (protobert, nnshot, structshot)
on 40 CoNLL-03 episodes, 4-way 5~10-shot, 40 query sentences (needs $NER_FEWSHOT_DATA). Checks that
both runs give the same predictions and scores for every (method, episode) and the same table.json
apart from the measured columns, then prints the ratio, the load average around each run and every
rank's busy time. Goal on a 2-core machine: ratio <= 0.6. Runs alternate (one, sharded, one, ...)
with --repeats > 1, and the best wall of each is compared, so that load from other processes shows
up as little as possible.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURED = ("fit_seconds_per_episode", "predict_sentences_per_second", "peak_rss_mb", "cuda_peak_mb")


def comparable_table(path: Path) -> str:
    """table.json with the measured columns (timings, memory) blanked: equal runs give equal text."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for table in data["tables"]:
        for row in table["rows"]:
            row.update({name: None for name in MEASURED})
    return json.dumps(data, indent=2)


def outcomes(output_dir: Path) -> dict[tuple[str, str], tuple]:
    """(method, episode) -> (status, predictions, score) from results.jsonl (last record wins)."""
    found = {}
    for line in (output_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        found[(record["method"], record["episode_id"])] = (record["status"], record.get("predictions"),
                                                           record.get("score"))
    return found


def timed(command: list[str], output_dir: Path) -> tuple[float, tuple[float, float]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([*command, "--output-dir", str(output_dir), "--no-progress"], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, (load_before, os.getloadavg()[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--datasets", default="conll2003")
    parser.add_argument("--methods", default="protobert,nnshot,structshot")
    parser.add_argument("--ways", default="4")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the runs' output folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    flags = ["--datasets", args.datasets, "--methods", args.methods, "--ways", args.ways,
             "--episodes", str(args.episodes)]
    single = [sys.executable, "-m", "benchmarks.compare", *flags]
    sharded = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.ranks),
               "-m", "benchmarks.compare", *flags]

    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        walls: dict[str, list[float]] = {"one": [], "sharded": []}
        for repeat in range(args.repeats):
            for name, command in (("one", single), ("sharded", sharded)):
                wall, (before, after) = timed(command, base / f"{name}-{repeat}")
                walls[name].append(wall)
                print(f"{name:8s} run {repeat + 1}: {wall:6.1f} s wall (1-min load average {before:.2f} -> {after:.2f})")
        one, two = base / "one-0", base / "sharded-0"
        same_results = outcomes(one) == outcomes(two)
        same_table = comparable_table(one / "table.json") == comparable_table(two / "table.json")
        ranks = json.loads((two / "manifest.json").read_text())["distributed"]["ranks"]
    ratio = min(walls["sharded"]) / min(walls["one"])
    print(f"{args.methods} on {args.episodes} {args.datasets} episodes ({args.ways}-way): one process "
          f"{min(walls['one']):.1f} s, {args.ranks} ranks {min(walls['sharded']):.1f} s -> ratio {ratio:.2f} (goal <= 0.6)")
    for rank in ranks:
        print(f"  rank {rank['rank']}: busy {rank['busy_seconds']:.1f} s, {rank['jobs']} jobs, "
              f"expected cost {rank['expected_cost']:g}")
    print(f"identical predictions and scores: {same_results}; identical table.json apart from measured columns: "
          f"{same_table}")
    return 0 if same_results and same_table else 1


if __name__ == "__main__":
    sys.exit(main())
