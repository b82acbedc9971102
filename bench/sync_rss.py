"""Peak RSS of a process running a full pass of candidates, for a small and a large org.

The pass runs in its own process (`ashby-sync sync --resource candidates --full`, the same pass code a worker
job runs), sampled every 50 ms with psutil. Figure: peak RSS at N candidates next to the peak at the baseline
size, measured in the same run. Target: flat (large <= 1.5 x small).
Run: `uv run python -m bench.sync_rss [--small 10000] [--large 1000000]`.
"""

import argparse
import asyncio
import contextlib
import os
import sys
import time

import psutil

from bench.harness import SECRET_KEY, bench_database, sandbox


async def peak_rss(candidates: int) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, rows) of one full candidates pass at this org size."""
    async with sandbox(candidates) as base_url, bench_database(base_url) as db:
        env = {**os.environ, "DATABASE_URL": db.url, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY, "COLUMNS": "200"}
        cmd = [sys.executable, "-m", "ashby_sync", "sync", "--account", "bench", "--resource", "candidates", "--full"]
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        watched = psutil.Process(proc.pid)
        peak = 0
        while proc.returncode is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)
        seconds = time.perf_counter() - started
        assert proc.returncode == 0, f"sync exited {proc.returncode}"
        async with db.pool.acquire() as conn:
            rows = int(await conn.fetchval("select count(*) from candidates"))
    return peak / 2**20, seconds, rows


async def main(small: int, large: int) -> None:
    base = await peak_rss(small)
    big = await peak_rss(large)
    print("peak RSS of a full candidates pass (its own process)")
    print(f"  {small:>10,} candidates: {base[0]:7.1f} MiB  ({base[2]:,} rows in {base[1]:.0f} s)")
    print(f"  {large:>10,} candidates: {big[0]:7.1f} MiB  ({big[2]:,} rows in {big[1]:.0f} s)")
    print(f"  ratio: {big[0] / base[0]:.2f}   target <= 1.5")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.small, args.large))
