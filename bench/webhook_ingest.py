"""Webhook ingest: requests/s and p50/p99 latency of the receiver, next to a bare aiohttp handler, same run.

Both servers run in their own processes on loopback: `ashby-sync serve` on a fresh database created and dropped
here (and Redis db 12, flushed; BENCH_REDIS_URL), and a bare aiohttp app that reads the body and answers 200.
With `--naive`, a third: the naive receiver the issue's target is set against (one INSERT and commit per request,
on the same database). The load generator is another process (an aiohttp client, or with `--client raw` a minimal
one about as cheap as wrk; N keep-alive connections, closed loop) POSTing signed `candidateHire` bodies of
realistic size (a sandbox application and its offer, ~3 KB), each with its own webhookActionId.

Each round measures every server at each connection count (16, 32 and 64 by default), servers alternating, so a
neighbour's load spike hits each alike. A closed loop of N connections gives N / latency requests/s, so a count too
small for a server measures its latency, not its throughput: the figure takes each server at its capacity, the
most requests/s it served in the round with p99 under 25 ms, and is the median over rounds of serve's over the
bare handler's. The ratio at each count is printed too. Afterwards every webhookActionId the receiver acknowledged
with 200 must be in `webhook_inbox`. Target: at least 0.4 of the bare handler's throughput with p99 under 25 ms,
nothing missing.
Run: `uv run python bench/webhook_ingest.py [--rounds 3] [--requests 6000] [--concurrency 16,32,64] [--client raw]
[--naive]`.
"""

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import psutil
import redis.asyncio as aioredis
from pydantic import SecretStr

from bench.harness import SECRET_KEY, bench_database, free_port, postgres_cpu_s
from store import accounts

BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
WEBHOOK_SECRET = "bench-webhook-secret"
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
WARMUP = 500


def template() -> bytes:
    """A candidateHire body from the sandbox (its application and accepted offer, ~3 KB), id to be filled in."""
    from ashby_sim.state import SimState

    state = SimState(seed=0, candidates=50)
    offer = next(state.all_records("offers"))
    data = {"application": state.get("applications", offer["applicationId"]), "offer": offer}
    return orjson.dumps({"webhookActionId": PLACEHOLDER, "action": "candidateHire", "data": data})


# --- the servers ----------------------------------------------------------------------------------------------
def _run_server(port: int, receive: Any, cleanup: Any = None) -> None:
    """An aiohttp app answering POST to the webhook route with `receive` and GET /healthz with 200."""
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    if cleanup is not None:
        app.cleanup_ctx.append(cleanup)
    app.router.add_post("/webhooks/ashby/{account_id}", receive)
    app.router.add_get("/healthz", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_bare(port: int) -> None:
    from aiohttp import web

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    _run_server(port, receive)


def serve_naive(port: int, database_url: str) -> None:
    """The naive receiver the issue's target is set against: the signature, the envelope, then one INSERT (and its
    commit) per request on a pool of 10 connections, before the 200. What `serve` does with group commit."""
    import asyncpg
    from aiohttp import web

    from ashby_api.webhooks import SIGNATURE_HEADER, verify_signature

    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature([WEBHOOK_SECRET], body, request.headers.get(SIGNATURE_HEADER)):
            return web.Response(status=401)
        envelope = orjson.loads(body)
        await request.app[pool_key].execute(
            """insert into webhook_inbox (account_id, webhook_action_id, action, body) values ($1, $2, $3, $4)
               on conflict do nothing""",
            uuid.UUID(request.match_info["account_id"]),
            envelope["webhookActionId"],
            envelope["action"],
            body,
        )
        return web.Response(text="ok")

    async def pool(app: web.Application) -> AsyncIterator[None]:
        async with asyncpg.create_pool(database_url, min_size=10, max_size=10) as p:
            app[pool_key] = p
            yield

    _run_server(port, receive, pool)


def receiver_command(port: int) -> list[str]:
    return [sys.executable, "-m", "ashby_sync", "serve", "--host", "127.0.0.1", "--port", str(port)]


async def wait_ready(url: str, proc: asyncio.subprocess.Process, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"{url} exited with {proc.returncode} before answering")
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)


# --- the load generator (its own process) ---------------------------------------------------------------------
# `--client raw`: HTTP/1.1 on asyncio's protocol API, as wrk does it in C: each request written as one buffer, each
# answer read for its status and Content-Length only. The aiohttp client spends about as much CPU a request as
# the bare handler serving it, on the same two cores.
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time (a closed loop)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._status = 0
        self._end: int | None = None  # where the current answer ends in the buffer, once its head is read
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._end is None:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self._buffer[:head_end]
            length = _CONTENT_LENGTH.search(head)
            if not head.startswith(b"HTTP/1.1 ") or length is None:
                self._fail(ConnectionError(f"unexpected answer: {head[:80]!r}"))
                return
            self._status, self._end = int(head[9:12]), head_end + 4 + int(length.group(1))
        if len(self._buffer) >= self._end:
            self._buffer, self._end = self._buffer[self._end :], None
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(self._status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def send(self, request: bytes) -> int:
        """Write one request and wait for its answer: its status."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


Send = Callable[[bytes, str], Awaitable[int]]  # (body, signature) -> the answer's status


@contextlib.asynccontextmanager
async def _senders(client: str, url: str, concurrency: int) -> AsyncIterator[list[Send]]:
    """One sender per connection of the load: an aiohttp client session's, or a `_Connection`'s."""
    if client == "aiohttp":
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def post(body: bytes, signature: str) -> int:
                headers = {"Content-Type": "application/json", "Ashby-Signature": signature}
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                return resp.status

            yield [post] * concurrency
        return
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    head = f"POST {target.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    loop = asyncio.get_running_loop()
    connections = [(await loop.create_connection(_Connection, host, port))[1] for _ in range(concurrency)]

    def sender(connection: _Connection) -> Send:
        async def send(body: bytes, signature: str) -> int:
            request = f"{head}Ashby-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            return await connection.send(request.encode() + body)

        return send

    try:
        yield [sender(c) for c in connections]
    finally:
        for connection in connections:
            connection.close()


async def generate(
    url: str, raw: bytes, requests: int, concurrency: int, seconds: float, client: str
) -> dict[str, Any]:
    def signed() -> tuple[str, bytes, str]:
        action_id = str(uuid.uuid4())
        body = raw.replace(PLACEHOLDER.encode(), action_id.encode())
        return action_id, body, "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

    warmup = [signed() for _ in range(WARMUP)]
    measured = [signed() for _ in range(requests)]
    acked: list[str] = []
    statuses: dict[int, int] = {}
    async with _senders(client, url, concurrency) as senders:

        async def run(batch: list[tuple[str, bytes, str]], latencies: list[float] | None, deadline: float) -> None:
            it = iter(batch)

            async def worker(send: Send) -> None:
                for action_id, body, signature in it:
                    started = time.perf_counter()
                    if started > deadline:
                        return
                    status = await send(body, signature)
                    if latencies is not None:
                        latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        acked.append(action_id)

            await asyncio.gather(*(worker(send) for send in senders))

        await run(warmup, None, time.perf_counter() + seconds)
        latencies: list[float] = []
        started, cpu_started = time.perf_counter(), time.process_time()
        await run(measured, latencies, started + seconds)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "rps": n / elapsed,
        "client_us": cpu / n * 1e6 if n else 0,
        "p50_ms": latencies[n // 2] * 1000 if n else 0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0,
        "statuses": statuses,
        "body_bytes": len(raw),
        "acked": acked,
    }


async def load(url: str, template_path: str, args: argparse.Namespace, connections: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--generate", url, "--template", template_path, "--client", args.client]
    cmd += ["--requests", str(args.requests), "--concurrency", str(connections), "--seconds", str(args.seconds)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


async def receiver_metrics(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def _cpu(a: Any, b: Any) -> float:
    return float((b.user + b.system) - (a.user + a.system))


# --- the run --------------------------------------------------------------------------------------------------
async def phase(
    proc: asyncio.subprocess.Process, url: str, template_path: str, args: argparse.Namespace, connections: int
) -> dict:
    cpu = psutil.Process(proc.pid)
    before, postgres_before = cpu.cpu_times(), postgres_cpu_s()
    result = await load(url, template_path, args, connections)
    served = result["requests"] + WARMUP
    result["cpu_us"] = _cpu(before, cpu.cpu_times()) / served * 1e6
    result["postgres_us"] = (postgres_cpu_s() - postgres_before) / served * 1e6
    return result


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


BARE, NAIVE, SERVE = "bare aiohttp handler", "naive receiver", "ashby-sync serve"
P99_LIMIT_MS = 25.0
TARGET = 0.4


def _to_bare(results: Sequence[Mapping[str, dict | None]], server: str) -> list[float]:
    """`server`'s requests/s over the bare handler's, for each of `results` (0 where either has no figure)."""
    ratios = []
    for r in results:
        ours, bare = r[server], r[BARE]
        ratios.append(ours["rps"] / bare["rps"] if ours and bare else 0.0)
    return ratios


def at_capacity(results: dict[int, dict[str, dict]], server: str) -> dict | None:
    """`server`'s phase with the most requests/s among the connection counts of a round whose p99 is under the
    limit: its throughput, as the target means it. None if no count kept the p99 under the limit."""
    within = [r[server] for r in results.values() if r[server]["p99_ms"] < P99_LIMIT_MS]
    return max(within, key=lambda r: float(r["rps"])) if within else None


async def main(args: argparse.Namespace) -> int:
    redis_client = aioredis.from_url(BENCH_REDIS_URL)
    await redis_client.flushdb()
    servers: dict[str, tuple[asyncio.subprocess.Process, int]] = {}
    rounds: list[dict[int, dict[str, dict]]] = []  # per round, per connection count, per server
    load_avg = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        tmp.write(template())
        tmp.flush()
        try:
            async with bench_database("http://127.0.0.1:9") as bench:
                async with bench.pool.acquire() as conn:
                    await accounts.set_webhook_secret(conn, bench.box, bench.account_id, SecretStr(WEBHOOK_SECRET))
                env = {
                    **os.environ,
                    "DATABASE_URL": bench.url,
                    "REDIS_URL": BENCH_REDIS_URL,
                    "ASHBY_SYNC_SECRET_KEY": SECRET_KEY,
                    "LOG_FORMAT": "json",
                }
                here = [sys.executable, __file__]
                commands = {BARE: lambda port: [*here, "--bare-server", str(port)]}
                if args.naive:
                    commands[NAIVE] = lambda port: [*here, "--naive-server", str(port), "--database", bench.url]
                commands[SERVE] = receiver_command
                for label, command in commands.items():
                    port = free_port()
                    proc = await asyncio.create_subprocess_exec(*command(port), env=env, stderr=subprocess.DEVNULL)
                    servers[label] = (proc, port)
                for proc, port in servers.values():
                    await wait_ready(f"http://127.0.0.1:{port}", proc)

                path = f"/webhooks/ashby/{bench.account_id}"
                for _ in range(args.rounds):  # alternating, so a neighbour's load spike hits each alike
                    rounds.append(
                        {
                            n: {
                                label: await phase(proc, f"http://127.0.0.1:{port}{path}", tmp.name, args, n)
                                for label, (proc, port) in servers.items()
                            }
                            for n in args.concurrency
                        }
                    )

                metrics = await receiver_metrics(f"http://127.0.0.1:{servers[SERVE][1]}/metrics")
                for proc, _ in servers.values():  # before the database goes
                    proc.terminate()
                    await proc.wait()
                async with bench.pool.acquire() as conn:
                    stored = {
                        r["webhook_action_id"]
                        for r in await conn.fetch(
                            "select webhook_action_id from webhook_inbox where account_id = $1", bench.account_id
                        )
                    }
        finally:
            for proc, _ in servers.values():
                if proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
            await redis_client.flushdb()
            await redis_client.aclose()
    return 0 if report(args, rounds, stored, metrics, load_avg) else 1


def report(
    args: argparse.Namespace,
    rounds: list[dict[int, dict[str, dict]]],
    stored: set[str],
    metrics: dict[str, float],
    load_avg: float,
) -> bool:
    """Print the phases and the figures; True when the target is met and nothing acknowledged is missing."""
    phases = [(i, n, label, r) for i, by_n in enumerate(rounds, 1) for n, rs in by_n.items() for label, r in rs.items()]
    acked = [a for _, _, label, r in phases if label == SERVE for a in r["acked"]]
    missing = set(acked) - stored
    connections = ", ".join(map(str, args.concurrency))
    print(
        f"webhook ingest: {phases[0][3]['body_bytes']} B signed candidateHire bodies, {connections} connections"
        f" of a {args.client} client, loopback, {os.cpu_count()} CPUs, load average {load_avg:.2f} at start"
    )
    print("CPU µs per request: of the server, of Postgres, and of the load generator")
    header = f"{'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    header += f" {'server µs':>10} {'Postgres µs':>12} {'client µs':>10}"
    print(f"{'round':<6} {'conns':>5} {'server':<22} {header}")
    for i, n, label, r in phases:
        figures = (
            f"{r['requests']:>9} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            f" {r['cpu_us']:>10.0f} {r['postgres_us']:>12.0f} {r['client_us']:>10.0f}"
        )
        print(f"{i:<6} {n:>5} {label:<22} {figures}")
    for n in args.concurrency:
        at_n = [r[n] for r in rounds]
        line = f"median of rounds at {n} connections: serve/bare {median(_to_bare(at_n, SERVE)):.2f}"
        line += f", serve p50 {median([r[SERVE]['p50_ms'] for r in at_n]):.1f} ms"
        line += f", p99 {median([r[SERVE]['p99_ms'] for r in at_n]):.1f} ms"
        if args.naive:
            line += f"; naive/bare {median(_to_bare(at_n, NAIVE)):.2f}"
            line += f" (p99 {median([r[NAIVE]['p99_ms'] for r in at_n]):.1f} ms)"
        print(line)
    # Throughput with p99 under the limit: each server's best connection count in each round, as a server's
    # capacity is measured; a closed loop of too few connections measures a server's latency instead.
    best = [{label: at_capacity(by_n, label) for label in by_n[args.concurrency[0]]} for by_n in rounds]
    ratios = _to_bare(best, SERVE)
    ratio = median(ratios)
    print(
        f"at capacity (each server's most requests/s with p99 < {P99_LIMIT_MS:.0f} ms, per round): serve/bare "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f"; median {ratio:.2f} (target >= {TARGET:.2f})"
    )
    if args.naive:
        naive = median(_to_bare(best, NAIVE))
        print(f"at capacity: naive/bare median {naive:.2f}; serve/naive {ratio / naive if naive else float('inf'):.2f}")
    statuses: dict[str, int] = {}
    for *_, r in phases:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    print(f"statuses (all phases): {dict(sorted(statuses.items()))}")
    batches = metrics["ashby_webhook_inbox_batch_size_count"]
    mean_batch = metrics["ashby_webhook_inbox_batch_size_sum"] / batches
    print(
        f"acknowledged: {len(acked)}, in webhook_inbox: {len(stored)}, missing: {len(missing)};"
        f" drain jobs queued: {metrics['ashby_webhooks_enqueued_total']:.0f},"
        f" Redis calls: {metrics.get('ashby_webhooks_enqueue_calls_total', 0):.0f};"
        f" inbox batches: {batches:.0f} (mean {mean_batch:.1f} events);"
        f" enqueue failures {metrics['ashby_webhooks_enqueue_failures_total']:.0f},"
        f" store failures {metrics['ashby_webhooks_store_failures_total']:.0f}"
    )
    ingest_ms = metrics["ashby_webhook_ingest_seconds_sum"] / metrics["ashby_webhook_ingest_seconds_count"] * 1000
    commit_ms = metrics["ashby_webhook_inbox_commit_seconds_sum"] / batches * 1000
    print(
        f"inside serve (all rounds): request start to 200 mean {ingest_ms:.2f} ms;"
        f" inbox INSERT+commit mean {commit_ms:.2f} ms"
    )
    ok = ratio >= TARGET and not missing
    print("PASS" if ok else "FAIL")
    return ok


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of connection counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("connection counts are at least 1")
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000, help="measured requests per server and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare, then naive (with --naive), then serve")
    parser.add_argument(
        "--concurrency",
        type=_counts,
        default=[16, 32, 64],
        help="connections of the load generator: one count, or several (comma-separated) measured in turn",
    )
    parser.add_argument("--seconds", type=float, default=15, help="time limit of each measured phase")
    parser.add_argument(
        "--client",
        choices=("aiohttp", "raw"),
        default="aiohttp",
        help="the load generator's HTTP client: aiohttp's, or a minimal one on asyncio's protocols (as cheap as wrk)",
    )
    parser.add_argument(
        "--naive",
        action="store_true",
        help="also measure a naive receiver (one INSERT and commit per request), the reference of the issue's target",
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--naive-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--generate", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
    elif args.naive_server:
        serve_naive(args.naive_server, args.database)
    elif args.generate:
        raw = Path(args.template).read_bytes()
        result = asyncio.run(
            generate(args.generate, raw, args.requests, args.concurrency[0], args.seconds, args.client)
        )
        sys.stdout.write(json.dumps(result))
    else:
        sys.exit(asyncio.run(main(args)))
