"""Where a full pass's Postgres time goes: CPU per row of writing candidate and application pages, by variant.

The pages are the sandbox's, fetched once; each variant writes all of them into a fresh database on one connection,
four pages a statement as a pass does, and the figure is that backend's CPU time (`/proc/<pid>/schedstat`, so the
Postgres server must run on this machine) per row. The variants take one cost away at a time:

- `mirror`: the typed newer-wins upsert into the mirror as the pass writes it (`store.mirror.upsert_bodies`);
- `no-secondary-indexes`: the same with every index but the primary keys dropped;
- `no-foreign-keys`: the same with the mirror tables' foreign keys to `accounts` dropped;
- `gist-trigrams`: the name and email trigram indexes as GiST instead of GIN (one entry a row, not one a trigram);
- `extract-only`: Postgres reads the typed columns from the pages as the upsert does, and writes nothing;
- `raw-only`: each object INSERTed as it is into an `(account_id, id, raw jsonb)` table without indexes, as the
  throughput benchmark's COPY baseline stores it: the floor.

Variants alternate within each round; on this shared machine a figure moves by 10 % between rounds.
Run: `uv run python -m bench.mirror_write_cost [--candidates 20000] [--rounds 2]`.
"""

import argparse
import asyncio
import uuid

from bench.harness import bench_database, sandbox
from bench.sync_throughput import fetch_all
from store import mirror
from store.pool import Conn

TABLES = ("candidates", "applications")
PAGE_ROWS = 100
PAGES_PER_STATEMENT = 4
_SECONDARY = {
    "candidates": [
        "candidates_search",
        "candidates_name_trgm",
        "candidates_email_trgm",
        "candidates_tag_ids",
        "candidates_updated",
    ],
    "applications": ["applications_candidate", "applications_job_stage", "applications_status"],
}
SETUP: dict[str, list[str]] = {
    "mirror": [],
    "no-secondary-indexes": [f"drop index {ix}" for t in TABLES for ix in _SECONDARY[t]],
    "no-foreign-keys": [f"alter table {t} drop constraint {t}_account_id_fkey" for t in TABLES],
    "gist-trigrams": [
        stmt
        for column, index in (("name", "candidates_name_trgm"), ("primary_email", "candidates_email_trgm"))
        for stmt in (f"drop index {index}", f"create index {index} on candidates using gist ({column} gist_trgm_ops)")
    ],
    "extract-only": [],
    "raw-only": [
        stmt
        for t in TABLES
        for stmt in (
            f"create table {t}_raw (account_id uuid, id text, raw jsonb)",
            f"alter table {t}_raw alter column raw set compression lz4",
        )
    ],
}
_RAW_INSERT = """insert into {table}_raw (account_id, id, raw)
select $1, e.o->>'id', e.o
from unnest($2::text[]) as b(body), jsonb_array_elements(b.body::jsonb -> 'results') as e(o)"""


def _extract_only(table: str) -> str:
    """The upsert's reading of the pages, materialized so every column is computed, and nothing written."""
    typed = mirror.typed_upsert_sql(table).split("), input as (")[0]
    typed = typed.replace("with typed as (", "with typed as materialized (", 1)
    return typed + ") select count(*) from typed where $1::uuid is not null"


def _pages(objs: list[bytes]) -> list[bytes]:
    """The objects as list-response bodies of PAGE_ROWS each, as Ashby sends them."""
    return [b'{"results":[' + b",".join(objs[i : i + PAGE_ROWS]) + b"]}" for i in range(0, len(objs), PAGE_ROWS)]


def _cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


async def _write(conn: Conn, variant: str, table: str, account_id: uuid.UUID, bodies: list[bytes]) -> None:
    if variant == "raw-only":
        await conn.execute(_RAW_INSERT.format(table=table), account_id, [b.decode() for b in bodies])
    elif variant == "extract-only":
        await conn.fetchval(_extract_only(table), account_id, [b.decode() for b in bodies])
    else:
        await mirror.upsert_bodies(conn, table, account_id, bodies)


async def main(candidates: int, rounds: int, variants: list[str]) -> None:
    print(f"Postgres CPU µs per row written, {candidates:,} candidates and their applications, one connection")
    print(f"{'round':<6} {'variant':<22} " + "  ".join(f"{t:>13}" for t in TABLES))
    async with sandbox(candidates, pregenerate=True) as base_url:
        rows = await fetch_all(base_url)
        pages = {
            t: [
                b'{"results":[' + b",".join(rows[t][i : i + PAGE_ROWS]) + b"]}"
                for i in range(0, len(rows[t]), PAGE_ROWS)
            ]
            for t in TABLES
        }
        for i in range(1, rounds + 1):
            for variant in variants:
                async with bench_database(base_url) as db, db.pool.acquire() as conn:
                    for stmt in SETUP[variant]:
                        await conn.execute(stmt)
                    await conn.execute("checkpoint")
                    pid = conn.get_server_pid()
                    figures = []
                    for table in TABLES:
                        started = _cpu_ns(pid)
                        for at in range(0, len(pages[table]), PAGES_PER_STATEMENT):
                            async with conn.transaction():
                                await _write(
                                    conn, variant, table, db.account_id, pages[table][at : at + PAGES_PER_STATEMENT]
                                )
                        figures.append((_cpu_ns(pid) - started) / 1000 / len(rows[table]))
                    print(f"{i:<6} {variant:<22} " + "  ".join(f"{f:13.1f}" for f in figures), flush=True)


def _variants(text: str) -> list[str]:
    names = text.split(",")
    unknown = [n for n in names if n not in SETUP]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(SETUP)}")
    return names


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--variants", type=_variants, default=list(SETUP), help="comma-separated, of: " + ", ".join(SETUP)
    )
    args = parser.parse_args()
    asyncio.run(main(args.candidates, args.rounds, args.variants))
