"""Full pass of N candidates plus their applications, jobs and offers from the sandbox at zero latency.

Figure: records/s of the pass (fetch + typed newer-wins upserts + checkpoints), next to a baseline measured in
the same run: the same JSON rows, already in memory, COPYed straight into a plain (id, raw jsonb) table
(compressed as the mirror's raw column is).

The sandbox generates and encodes the org before the clock starts (`--pregenerate`), so during the pass it only
serves bytes: a real Ashby's work costs this machine nothing, and the baseline's rows are in memory too.
`--on-demand` measures the pass with the sandbox generating every page on the same CPUs instead.
Run: `uv run python -m bench.sync_throughput [--candidates 100000] [--on-demand]`.
"""

import argparse
import asyncio
import io
import time

import orjson

from ashby_api.client import AshbyClient, new_session
from ashby_api.resources import BY_NAME
from bench.harness import API_KEY, bench_database, children_cpu_s, postgres_cpu_s, sandbox
from core.heap import tune_for_service
from sync.accounts import account_context, sync_account

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


async def main(candidates: int, *, pregenerate: bool) -> None:
    async with sandbox(candidates, pregenerate=pregenerate) as base_url, bench_database(base_url) as db:
        async with new_session() as session, account_context(db.pool, session, db.box, db.account_id) as ctx:
            started, cpu_started, postgres_started = time.perf_counter(), time.process_time(), postgres_cpu_s()
            sandbox_started = children_cpu_s()
            results, failures = await sync_account(ctx, RESOURCES, concurrency=4)
            ours = time.perf_counter() - started
            ours_cpu, ours_postgres = time.process_time() - cpu_started, postgres_cpu_s() - postgres_started
            ours_sandbox = children_cpu_s() - sandbox_started
        assert not failures, failures
        records = sum(r.rows for r in results)

        rows = await fetch_all(base_url)
        async with db.pool.acquire() as conn:
            await conn.execute("create table baseline_rows (account_id uuid, id text, raw jsonb)")
            # stored as the mirror stores raw (schema.sql), so only the work differs
            compression = await conn.fetchval(
                "select attcompression from pg_attribute where attrelid = 'candidates'::regclass and attname = 'raw'"
            )
            if compression == b"l":
                await conn.execute("alter table baseline_rows alter column raw set compression lz4")
            started, cpu_started, postgres_started = time.perf_counter(), time.process_time(), postgres_cpu_s()
            for objs in rows.values():
                # COPY's text format: one line per row, tab-separated; backslashes escaped
                account = str(db.account_id).encode()
                lines = b"".join(
                    b"%s\t%s\t%s\n" % (account, orjson.loads(o)["id"].encode(), o.replace(b"\\", b"\\\\")) for o in objs
                )
                await conn.copy_to_table("baseline_rows", source=io.BytesIO(lines), format="text")
            base = time.perf_counter() - started
            base_cpu, base_postgres = time.process_time() - cpu_started, postgres_cpu_s() - postgres_started
        assert sum(len(v) for v in rows.values()) == records

    vendor = "pregenerated (serving bytes only)" if pregenerate else "generated on demand"
    print(f"full pass of {candidates:,} candidates + applications, jobs, offers: {records:,} records")
    print(f"  sandbox pages: {vendor}")
    print(f"  ashby-sync full pass : {ours:7.2f} s  {records / ours:10,.0f} records/s", end="")
    print(f"  (CPU: this process {ours_cpu:5.1f} s, Postgres {ours_postgres:5.1f} s, sandbox {ours_sandbox:4.1f} s)")
    print(f"  baseline COPY        : {base:7.2f} s  {records / base:10,.0f} records/s", end="")
    print(f"  (CPU: this process {base_cpu:5.1f} s, Postgres {base_postgres:5.1f} s)")
    print(f"  ratio (ours / baseline throughput): {base / ours:.2f}   target >= 0.5")


if __name__ == "__main__":
    tune_for_service()  # the pass runs in this process, tuned as `ashby-sync sync` and the worker are
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument(
        "--on-demand",
        action="store_true",
        help="let the sandbox generate each page as it is asked for, on the CPUs the pass and Postgres use",
    )
    args = parser.parse_args()
    asyncio.run(main(args.candidates, pregenerate=not args.on_demand))
