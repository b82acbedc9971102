"""What a full pass writes: WAL bytes and checkpoints of one pass, next to the COPY baseline's for the same rows.

Figure: the pass's WAL bytes over the baseline's (the same rows COPYed into a plain table, as in
`bench.sync_throughput`), each side in a fresh process on a fresh database after a checkpoint, with the checkpoints
the server made during each. With `--breakdown`, the pass's WAL is also broken down by record type with
`pg_waldump --stats=record` (it must run on the Postgres server's machine, with read access to its `pg_wal`).
Run: `uv run python -m bench.sync_pass_wal [--candidates 100000] [--breakdown]`.
"""

import argparse
import asyncio
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchDB, bench_database, sandbox
from bench.sync_throughput import in_fresh_process


@dataclass(frozen=True, slots=True)
class Written:
    records: int
    seconds: float
    wal_bytes: int
    checkpoints: int
    start_lsn: str
    end_lsn: str


async def _written(side: str, db: BenchDB, base_url: str) -> Written:
    async with db.pool.acquire() as conn:
        await conn.execute("checkpoint")
        start = await conn.fetchval("select pg_current_wal_insert_lsn()::text")
        checkpoints = await conn.fetchval("select checkpoints_timed + checkpoints_req from pg_stat_bgwriter")
    records, timing = await in_fresh_process(side, db, base_url)
    async with db.pool.acquire() as conn:
        end = await conn.fetchval("select pg_current_wal_insert_lsn()::text")
        wal = await conn.fetchval("select pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)::bigint", end, start)
        after = await conn.fetchval("select checkpoints_timed + checkpoints_req from pg_stat_bgwriter")
    return Written(records, timing.seconds, int(wal), int(after - checkpoints), start, end)


async def _waldir(db: BenchDB) -> Path:
    async with db.pool.acquire() as conn:
        return Path(await conn.fetchval("select current_setting('data_directory')")) / "pg_wal"


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


def _oldest_kept(waldir: Path) -> int | None:
    """The LSN where the oldest WAL segment still on disk begins (16 MB segments), None if unreadable."""
    try:
        names = sorted(p.name for p in waldir.iterdir() if len(p.name) == 24 and p.name.isalnum())
    except OSError:
        return None
    return int(names[0][8:16], 16) << 32 | int(names[0][16:24], 16) << 24 if names else None


def _breakdown(waldir: Path, pass_: Written) -> None:
    """The biggest WAL record types of the pass, by bytes (records plus full-page images). The checkpoints of a long
    pass recycle its first segments: then what is still on disk is broken down, and said so."""
    start = _lsn(pass_.start_lsn)
    oldest = _oldest_kept(waldir)
    if oldest is not None and oldest > start:
        print(f"its first {(oldest - start) / 1e6:,.0f} MB were recycled by its checkpoints: the rest is broken down")
        start = oldest
    lsn = f"{start >> 32:X}/{start & 0xFFFF_FFFF:X}"
    cmd = [*_waldump(), "--stats=record", "-p", str(waldir), "-s", lsn, "-e", pass_.end_lsn]
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"no breakdown: pg_waldump could not read {waldir} ({type(exc).__name__})")
        return
    rows = []
    for line in text.splitlines():  # "Heap/INSERT  186866 (  9.37)  394666457 ( 44.96)  ...  394724593 ( 42.44)"
        figures = re.findall(r"(\d+) \(\s*[\d.]+\)", line)
        if "/" in line.split(" ", 1)[0] and len(figures) == 4:
            rows.append((int(figures[-1]), line.split()[0], int(figures[0])))
    total = sum(r[0] for r in rows) or 1
    print(f"{'record type':<28} {'count':>9} {'MB':>8} {'share':>6}")
    for size, kind, count in sorted(rows, reverse=True)[:12]:
        print(f"{kind:<28} {count:>9,} {size / 1e6:>8.1f} {size / total:>6.1%}")


def _waldump() -> list[str]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_waldump"))
    return [str(found[-1])] if found else ["pg_waldump"]


async def main(candidates: int, breakdown: bool) -> None:
    print(f"WAL of a full pass of {candidates:,} candidates + applications, jobs, offers, and of the COPY baseline")
    async with sandbox(candidates, pregenerate=True) as base_url:
        sides = {}
        for side in ("pass", "copy"):
            async with bench_database(base_url) as db:
                sides[side] = await _written(side, db, base_url)
                if breakdown and side == "pass":  # at once: later checkpoints recycle the segments
                    _breakdown(await _waldir(db), sides[side])
        ours, base = sides["pass"], sides["copy"]
        assert ours.records == base.records, (ours.records, base.records)
        for name, w in (("ashby-sync", ours), ("baseline COPY", base)):
            print(
                f"{name:<14} {w.records:,} records in {w.seconds:.1f} s: {w.wal_bytes / 1e6:,.0f} MB of WAL "
                f"({w.wal_bytes / w.records:,.0f} bytes a record), {w.checkpoints} checkpoint(s) during it"
            )
        print(f"WAL ratio (ours / baseline): {ours.wal_bytes / base.wal_bytes:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--breakdown", action="store_true", help="break the pass's WAL down with pg_waldump")
    args = parser.parse_args()
    asyncio.run(main(args.candidates, args.breakdown))
