"""Full pass of N candidates plus their applications, jobs and offers from the sandbox at zero latency.

Figure: records/s of the pass (fetch + typed newer-wins upserts + checkpoints), next to a baseline measured in
the same run: the same JSON rows, already in memory, COPYed straight into a plain (id, raw jsonb) table
(compressed as the mirror's raw column is), streamed 1,000 rows at a time.

The sandbox generates and encodes the org before the clock starts (`--pregenerate`), so during the pass it only
serves bytes: a real Ashby's work costs this machine nothing, and the baseline's rows are in memory too.
`--on-demand` measures the pass with the sandbox generating every page on the same CPUs instead.

Each round is a pass and a baseline on a fresh database, each measured after a vacuum and a checkpoint, so what
the other left behind is not on its clock, and each in a fresh process of its own (run in this one, the baseline
after the pass went up to 45 % slower, its process's CPU doubled). The baseline goes first in every other round and
the figure is the median of the rounds' ratios; on a shared machine a single pair also moves by 20 % from run to
run.
Run: `uv run python -m bench.sync_throughput [--candidates 100000] [--rounds 3] [--on-demand]`.
"""

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import orjson
from pydantic import SecretStr

from ashby_api.client import AshbyClient, new_session
from ashby_api.resources import BY_NAME
from bench.harness import API_KEY, SECRET_KEY, BenchDB, bench_database, children_cpu_s, postgres_cpu_s, sandbox
from core.heap import tune_for_service
from store.pool import create_pool
from store.secrets import SecretBox
from sync.accounts import account_context, sync_account

COPY_CHUNK_ROWS = 1000  # about 2 MB of rows per chunk
RESOURCES = [BY_NAME[n] for n in ("candidates", "applications", "jobs", "offers")]


async def fetch_all(base_url: str) -> dict[str, list[bytes]]:
    """Every row of the benchmarked resources as JSON, fetched once for the baseline."""
    rows: dict[str, list[bytes]] = {}
    async with new_session() as session:
        client = AshbyClient(session, base_url=base_url, api_key=API_KEY)
        for r in RESOURCES:
            out = rows.setdefault(r.name, [])
            cursor = None
            while True:
                page = await client.list_page(r, cursor=cursor)
                out.extend(orjson.dumps(o) for o in page.raw)
                if not page.more_data_available:
                    break
                cursor = page.next_cursor
    return rows


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: float
    cpu_s: float  # this process
    postgres_s: float
    sandbox_s: float = 0.0


async def settle(db: BenchDB) -> None:
    """Finish what earlier work left behind, so the next measurement does not pay for it: the vacuum (and analyze)
    its inserts would start in the background, then the checkpoint that writes out its pages."""
    async with db.pool.acquire() as conn:
        await conn.execute("vacuum (analyze)")
        try:
            await conn.execute("checkpoint")
        except asyncpg.InsufficientPrivilegeError:
            print("  (no CHECKPOINT privilege: the second measurement of a round writes out what the first left)")


async def run_pass(db: BenchDB) -> tuple[int, Timing]:
    """The full pass of the benchmarked resources into `db`'s empty mirror: records and timing."""
    await settle(db)
    async with new_session() as session, account_context(db.pool, session, db.box, db.account_id) as ctx:
        started, cpu_started, postgres_started = time.perf_counter(), time.process_time(), postgres_cpu_s()
        sandbox_started = children_cpu_s()
        results, failures = await sync_account(ctx, RESOURCES, concurrency=4)
        timing = Timing(
            time.perf_counter() - started,
            time.process_time() - cpu_started,
            postgres_cpu_s() - postgres_started,
            children_cpu_s() - sandbox_started,
        )
    assert not failures, failures
    return sum(r.rows for r in results), timing


async def _copy_lines(account: bytes, objs: list[bytes]) -> AsyncIterator[bytes]:
    """COPY's text format, a chunk of rows at a time (no buffer of a whole resource to allocate): one line per
    row, tab-separated, backslashes escaped."""
    for i in range(0, len(objs), COPY_CHUNK_ROWS):
        yield b"".join(
            b"%s\t%s\t%s\n" % (account, orjson.loads(o)["id"].encode(), o.replace(b"\\", b"\\\\"))
            for o in objs[i : i + COPY_CHUNK_ROWS]
        )


async def run_copy(db: BenchDB, rows: dict[str, list[bytes]]) -> Timing:
    """The baseline: the same rows COPYed into a plain (account_id, id, raw jsonb) table of `db`."""
    async with db.pool.acquire() as conn:
        await conn.execute("create table baseline_rows (account_id uuid, id text, raw jsonb)")
        # stored as the mirror stores raw (schema.sql), so only the work differs
        compression = await conn.fetchval(
            "select attcompression from pg_attribute where attrelid = 'candidates'::regclass and attname = 'raw'"
        )
        if compression == b"l":
            await conn.execute("alter table baseline_rows alter column raw set compression lz4")
    await settle(db)
    async with db.pool.acquire() as conn:
        started, cpu_started, postgres_started = time.perf_counter(), time.process_time(), postgres_cpu_s()
        account = str(db.account_id).encode()
        for objs in rows.values():
            await conn.copy_to_table("baseline_rows", source=_copy_lines(account, objs), format="text")
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        return Timing(seconds, cpu_s, postgres_cpu_s() - postgres_started)


async def measure(side: str, url: str, account_id: uuid.UUID, base_url: str) -> dict[str, float]:
    """One side of a round, in this (fresh) process: records and timing, for the parent to read as JSON."""
    rows = await fetch_all(base_url) if side == "copy" else {}  # before the clock: the baseline's rows in memory
    pool = await create_pool(url, max_size=20)
    try:
        db = BenchDB(url, pool, account_id, SecretBox(SecretStr(SECRET_KEY)))
        if side == "pass":
            records, timing = await run_pass(db)
        else:
            records, timing = sum(len(v) for v in rows.values()), await run_copy(db, rows)
    finally:
        await pool.close()
    return {"records": records, **dataclasses.asdict(timing)}


async def in_fresh_process(side: str, db: BenchDB, base_url: str, *, tree: str | None = None) -> tuple[int, Timing]:
    """`measure` in a child process; the sandbox's CPU is taken here, around it (the child is gone by then).

    `tree`: run the code of that checkout instead of this one (an A/B of two versions: `bench.sync_pass_ab`)."""
    cmd = [sys.executable, "-m", "bench.sync_throughput", "--measure", side, "--database-url", db.url]
    cmd += ["--account-id", str(db.account_id), "--sandbox-url", base_url]
    env = {**os.environ, "BENCH_SECRET_KEY": SECRET_KEY}
    if tree is not None:
        env["PYTHONPATH"] = tree
    sandbox_started = children_cpu_s()
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, env=env, cwd=tree)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"measuring the {side} failed ({proc.returncode})")
    result = json.loads(out.splitlines()[-1])
    records = int(result.pop("records"))
    timing = Timing(**result)
    return records, dataclasses.replace(timing, sandbox_s=children_cpu_s() - sandbox_started)


async def main(candidates: int, *, pregenerate: bool, rounds: int) -> None:
    vendor = "pregenerated (serving bytes only)" if pregenerate else "generated on demand"
    print(f"full pass of {candidates:,} candidates + applications, jobs, offers; sandbox pages: {vendor}")
    print("each side in a fresh process, after a vacuum and a checkpoint")
    print("round  first     ashby-sync                 baseline COPY              ratio  ", end="")
    print("CPU s: sync / Postgres / sandbox")
    ratios: list[float] = []
    records = 0
    async with sandbox(candidates, pregenerate=pregenerate) as base_url:
        for i in range(1, rounds + 1):
            copy_first = i % 2 == 0  # alternate, so what one leaves behind (dirty pages, WAL) burdens both alike
            async with bench_database(base_url) as db:
                sides: dict[str, tuple[int, Timing]] = {}
                for side in ("copy", "pass") if copy_first else ("pass", "copy"):
                    sides[side] = await in_fresh_process(side, db, base_url)
            (records, ours), (expected, base) = sides["pass"], sides["copy"]
            assert records == expected, (records, expected)
            ratios.append(base.seconds / ours.seconds)
            print(
                f"{i:<6} {'COPY' if copy_first else 'pass':<9} "
                f"{records / ours.seconds:8,.0f} rec/s ({ours.seconds:5.1f} s)   "
                f"{records / base.seconds:8,.0f} rec/s ({base.seconds:5.1f} s)   {ratios[-1]:.2f}   "
                f"{ours.cpu_s:.1f} / {ours.postgres_s:.1f} / {ours.sandbox_s:.1f}  (COPY: {base.cpu_s:.1f} / "
                f"{base.postgres_s:.1f})",
                flush=True,
            )
    print(
        f"{records:,} records; median ratio of {rounds} rounds (ours / baseline throughput): "
        f"{statistics.median(ratios):.2f}   target >= 0.5"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument(
        "--on-demand",
        action="store_true",
        help="let the sandbox generate each page as it is asked for, on the CPUs the pass and Postgres use",
    )
    parser.add_argument("--rounds", type=int, default=3, help="pass and baseline pairs, each on a fresh database")
    parser.add_argument("--measure", choices=("pass", "copy"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", type=uuid.UUID, help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        tune_for_service()  # the pass runs tuned as `ashby-sync sync` and the worker are
        figures = asyncio.run(measure(args.measure, args.database_url, args.account_id, args.sandbox_url))
        print(json.dumps(figures))
    else:
        asyncio.run(main(args.candidates, pregenerate=not args.on_demand, rounds=args.rounds))
