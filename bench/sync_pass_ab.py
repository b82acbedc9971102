"""A full pass alone, this checkout against another, alternating: the A/B of a change to the pass.

The pass of `bench.sync_throughput` (candidates, applications, jobs, offers from a pregenerated sandbox at zero
latency, into a fresh database), each side in a fresh process running its own checkout's code, the other checkout
first in odd rounds. The figure is each side's wall time and CPU (the pass's process, Postgres), and the median of
the rounds' ratios (this checkout over the other: under 1 is faster). On this shared machine single rounds move by
20 %: the order alternates so a slow spell burdens both alike, and a difference smaller than the spread of either
side is noise.
Run: `git worktree add ../before HEAD~1`, then `uv run python -m bench.sync_pass_ab --baseline ../before`.
"""

import argparse
import asyncio
import statistics
from pathlib import Path

from bench.harness import bench_database, sandbox
from bench.sync_throughput import Timing, in_fresh_process

HERE = str(Path(__file__).resolve().parent.parent)


def _side(t: Timing) -> str:
    return f"{t.seconds:6.1f} ({t.cpu_s:4.1f} / {t.postgres_s:4.1f})"


async def main(baseline: str, candidates: int, rounds: int) -> None:
    print(f"full pass of {candidates:,} candidates + applications, jobs, offers; each side in a fresh process")
    print(f"this checkout: {HERE}\nbaseline:      {baseline}")
    print("round  first      this: s (CPU s: pass / Postgres)   baseline: s (CPU s: pass / Postgres)   ratio")
    ratios: list[float] = []
    async with sandbox(candidates, pregenerate=True) as base_url:
        for i in range(1, rounds + 1):
            order = [("baseline", baseline), ("this", HERE)] if i % 2 else [("this", HERE), ("baseline", baseline)]
            timings: dict[str, Timing] = {}
            records: set[int] = set()
            for side, tree in order:
                async with bench_database(base_url) as db:
                    n, timings[side] = await in_fresh_process("pass", db, base_url, tree=tree)
                records.add(n)
            assert len(records) == 1, records  # both mirrored the same org
            ours, theirs = timings["this"], timings["baseline"]
            ratios.append(ours.seconds / theirs.seconds)
            print(
                f"{i:<6} {order[0][0]:<10} {_side(ours):<35}{_side(theirs):<39}{ratios[-1]:.2f}",
                flush=True,
            )
    print(f"median ratio of {rounds} rounds (this / baseline wall time): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the other checkout (a git worktree of the commit to beat)")
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4, help="pairs of passes, alternating which goes first")
    args = parser.parse_args()
    baseline = str(Path(args.baseline).resolve())
    if not (Path(baseline) / "bench" / "sync_throughput.py").is_file():
        parser.error(f"{baseline} is not a checkout of this project (no bench/sync_throughput.py)")
    asyncio.run(main(baseline, args.candidates, args.rounds))
