"""The full pass of bench/sync_throughput.py against a slow vendor: the sandbox answers every request in 100 ms.

Figure: wall time over (requests made to the longest resource x 100 ms). Passes of independent resources run
concurrently and each prefetches its next page while writing the current one, so the figure is close to 1
when the wall time is set by Ashby, not by us. Run: `uv run python -m bench.sync_latency [--candidates 100000]`.
"""

import argparse
import asyncio
import time

from ashby_api.client import new_session
from bench.harness import AUTH, bench_database, sandbox
from bench.sync_throughput import RESOURCES
from core.heap import tune_for_service
from sync.accounts import account_context, sync_account


async def request_counts(base_url: str) -> dict[str, int]:
    async with (
        new_session() as session,
        session.get(f"{base_url}/_sim/requests", headers=AUTH) as resp,
    ):
        counts: dict[str, int] = (await resp.json())["results"]["counts"]
        return counts


async def main(candidates: int, latency_ms: int) -> None:
    async with sandbox(candidates, latency_ms=latency_ms) as base_url, bench_database(base_url) as db:
        before = await request_counts(base_url)
        async with new_session() as session, account_context(db.pool, session, db.box, db.account_id) as ctx:
            started = time.perf_counter()
            results, failures = await sync_account(ctx, RESOURCES, concurrency=4)
            wall = time.perf_counter() - started
        assert not failures, failures
        after = await request_counts(base_url)
    calls = {r.endpoint: after.get(r.endpoint, 0) - before.get(r.endpoint, 0) for r in RESOURCES}
    longest = max(calls.values())
    floor = longest * latency_ms / 1000
    print(f"full pass of {candidates:,} candidates + applications, jobs, offers at {latency_ms} ms per request")
    print("  requests per resource: " + ", ".join(f"{k} {v:,}" for k, v in calls.items()))
    print(f"  records: {sum(r.rows for r in results):,}")
    print(f"  wall time             : {wall:8.1f} s")
    print(f"  longest resource floor: {floor:8.1f} s  ({longest:,} requests x {latency_ms} ms)")
    print(f"  ratio wall / floor    : {wall / floor:.3f}   target <= 1.1")


if __name__ == "__main__":
    tune_for_service()  # the pass runs in this process, tuned as `ashby-sync sync` and the worker are
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.candidates, args.latency_ms))
