"""Freshness: the time from a webhook's arrival to its change being visible in the mirror.

A real `ashby-sync serve` and a real `ashby-sync worker` (subprocesses, Postgres, Redis) receive signed
`applicationUpdate` webhooks at a steady rate (200/s by default); each carries a new `updatedAt`. A poller in
this process watches the mirror every 5 ms and records when each change shows. Figure: p50/p99 of send ->
visible, next to the receiver's own answer time (send -> 200) measured on the same requests. The first second
(services cold: pools, prepared statements and HTTP sessions still opening) is reported apart from the
measured seconds after it. Target: p99 under 250 ms.
Run: `uv run python -m bench.webhook_freshness [--rate 200] [--seconds 10]`.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import psutil
import redis.asyncio as aioredis
from pydantic import SecretStr

from ashby_api.client import AshbyClient
from ashby_api.resources import BY_NAME
from ashby_api.webhooks import SIGNATURE_HEADER, sign
from bench.harness import API_KEY, SECRET_KEY, bench_database, free_port, sandbox
from store import accounts
from sync.accounts import account_context, sync_account

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WEBHOOK_SECRET = "bench-webhook-secret"
WARMUP_S = 1  # reported on its own: the first events pay for connections, statements and sessions opening


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def main(rate: int, seconds: int) -> None:
    flush = aioredis.from_url(REDIS_URL)
    await flush.flushdb()
    await flush.aclose()
    async with sandbox(2000) as base_url, bench_database(base_url) as db:
        async with aiohttp.ClientSession() as session, account_context(db.pool, session, db.box, db.account_id) as ctx:
            _, failures = await sync_account(ctx)  # nothing is due afterwards: the worker only applies webhooks
            assert not failures, failures
            client = AshbyClient(session, base_url=base_url, api_key=API_KEY)
            applications = [a async for p in client.iter_pages(BY_NAME["applications"]) for a in p.raw]
        async with db.pool.acquire() as conn:
            await accounts.set_webhook_secret(conn, db.box, db.account_id, SecretStr(WEBHOOK_SECRET))

        env = {**os.environ, "DATABASE_URL": db.url, "REDIS_URL": REDIS_URL, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}
        port = free_port()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ashby_sync", *args, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            for args in (("serve", "--port", str(port)), ("worker",))
        ]  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_ready(url)
            cpu = [psutil.Process(p.pid) for p in procs]
            before = [sum(c.cpu_times()[:2]) for c in cpu]  # start-up (imports, connections) is not the run's
            started = time.perf_counter()
            sent, acked, seen = await drive(db, applications, url, rate, WARMUP_S + seconds)
            wall = time.perf_counter() - started
            busy = [(sum(c.cpu_times()[:2]) - b) / wall for c, b in zip(cpu, before, strict=True)]
        finally:
            for p in procs:
                p.terminate()
                await p.wait()

    print(f"  CPU busy during the run: serve {busy[0]:.0%}, worker {busy[1]:.0%} of one core")
    warm = rate * WARMUP_S  # events 0..warm-1 were sent in the first WARMUP_S seconds
    lost = [i for i in sent if i not in seen]
    print(f"{len(sent):,} webhooks sent at {rate}/s, {len(sent) - len(lost):,} visible in the mirror")
    for label, ids in (
        (f"first {WARMUP_S} s, services cold", range(warm)),
        (f"next {seconds} s", range(warm, len(sent))),
    ):
        fresh = [seen[i] - sent[i] for i in ids if i in seen]
        answer = [acked[i] - sent[i] for i in ids if i in acked]
        print(f"{label}: {len(fresh):,} events")
        p50, p99 = pct(answer, 50) * 1000, pct(answer, 99) * 1000
        print(f"  receiver answer (send -> 200)     p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
        print(
            f"  freshness (send -> mirror row)    p50 {pct(fresh, 50) * 1000:6.1f} ms"
            f"   p99 {pct(fresh, 99) * 1000:6.1f} ms   max {max(fresh) * 1000:6.1f} ms"
        )
    print("target: p99 < 250 ms over the measured seconds (after the first)")


async def drive(db, applications, url, rate, seconds):
    """Send `rate` webhooks a second for `seconds`, each to its own application; send, 200 and visible times."""
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    seen: dict[int, float] = {}
    waiting: dict[str, tuple[int, datetime]] = {}  # application id -> (latest event, its updatedAt)
    base = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)  # newer than anything the sandbox has
    total = rate * seconds
    assert total <= len(applications), f"{total} events need as many applications; the sandbox has {len(applications)}"

    async def send(session: aiohttp.ClientSession, i: int) -> None:
        app = dict(applications[i])
        updated = base + timedelta(milliseconds=i)
        app["updatedAt"] = updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = orjson.dumps(
            {"webhookActionId": str(uuid.uuid4()), "action": "applicationUpdate", "data": {"application": app}}
        )
        waiting[app["id"]] = (i, updated)
        sent[i] = time.perf_counter()
        headers = {SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
        async with session.post(f"{url}/webhooks/ashby/{db.account_id}", data=body, headers=headers) as resp:
            assert resp.status == 200, resp.status
            acked[i] = time.perf_counter()

    async def poll() -> None:
        async with db.pool.acquire() as conn:
            while len(seen) < total:
                ids = list(waiting)
                if ids:
                    rows = await conn.fetch(
                        "select id, updated_at from applications where account_id = $1 and id = any($2::text[])",
                        db.account_id,
                        ids,
                    )
                    now = time.perf_counter()
                    for r in rows:
                        i, updated = waiting[r["id"]]
                        if r["updated_at"] >= updated:
                            seen[i] = now
                            del waiting[r["id"]]
                await asyncio.sleep(0.005)

    poller = asyncio.create_task(poll())
    async with aiohttp.ClientSession() as session:
        tasks = []
        started = time.perf_counter()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(session, i)))
        await asyncio.gather(*tasks)
    try:
        async with asyncio.timeout(30):
            await poller
    except TimeoutError:
        poller.cancel()
    return sent, acked, seen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
