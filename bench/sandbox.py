"""Sandbox at scale: startup time, candidate.list pages/s (first and deep pages) and RSS with 1,000,000 candidates.

Baseline: a bare aiohttp handler in its own process returning a precomputed 100-candidate page, fetched by
the same client the same way. Run: `uv run python bench/sandbox.py [--pages 300] [--candidates 1000000]`.
"""

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_baseline(port: int) -> None:
    """The baseline server: one precomputed page of 100 sandbox candidates, no auth, no state."""
    from aiohttp import web

    from ashby_sim.state import SimState

    state = SimState(seed=0, candidates=100)
    page = orjson.dumps({"success": True, "results": list(state.all_records("candidates")), "moreDataAvailable": True})

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=page, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{endpoint}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def wait_ready(session: aiohttp.ClientSession, url: str, deadline: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        try:
            async with session.post(f"{url}/apiKey.info", json={}, headers=AUTH) as resp:
                if resp.status == 200:
                    return time.perf_counter() - started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{url} did not start in time")


async def fetch_pages(session: aiohttp.ClientSession, url: str, body: dict[str, Any], pages: int) -> float:
    """Follow nextCursor for `pages` pages; pages per second."""
    started = time.perf_counter()
    for _ in range(pages):
        async with session.post(f"{url}/candidate.list", json=body, headers=AUTH) as resp:
            page = orjson.loads(await resp.read())
        if not page["success"] or len(page["results"]) != 100:
            raise RuntimeError(f"unexpected page: {page.get('errorInfo')}")
        body = {"cursor": page["nextCursor"], "limit": 100} if "nextCursor" in page else body
    return pages / (time.perf_counter() - started)


def deep_cursor(first_cursor: str, slot: int) -> str:
    """The cursor of a page deep into the full pass (cursors are opaque to clients; the bench may peek)."""
    from ashby_sim.sync import decode, encode

    payload = decode(first_cursor)
    assert payload is not None
    return encode({**payload, "p": slot})


def start(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run(pages: int, candidates: int) -> list[tuple[str, str, str]]:
    sim_port, base_port = free_port(), free_port()
    sim_url, base_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{base_port}"
    launched = time.perf_counter()
    sim = start(["-m", "ashby_sim", "--candidates", str(candidates), "--port", str(sim_port), "--api-key", API_KEY])
    baseline = start([__file__, "--baseline-server", str(base_port)])
    rows: list[tuple[str, str, str]] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, sim_url, time.perf_counter() + 20)
            startup = time.perf_counter() - launched
            await wait_ready(session, base_url, time.perf_counter() + 20)
            rss_idle = psutil.Process(sim.pid).memory_info().rss
            first = await fetch_pages(session, sim_url, {"limit": 100}, pages)
            async with session.post(f"{sim_url}/candidate.list", json={}, headers=AUTH) as resp:
                cursor = orjson.loads(await resp.read())["nextCursor"]
            deep = await fetch_pages(session, sim_url, {"cursor": deep_cursor(cursor, candidates - 100 * 60)}, 50)
            rss = psutil.Process(sim.pid).memory_info().rss
            base = await fetch_pages(session, base_url, {"limit": 100}, pages)
            base_rss = psutil.Process(baseline.pid).memory_info().rss
        rows += [
            ("startup to first answer (s)", f"{startup:.2f}", "-"),
            (f"candidate.list pages/s, first {pages} pages", f"{first:.0f}", f"{base:.0f} ({first / base:.2f}x)"),
            ("candidate.list pages/s, 50 pages past 99%", f"{deep:.0f}", f"{base:.0f} ({deep / base:.2f}x)"),
            ("RSS after start (MB)", f"{rss_idle / 2**20:.0f}", "-"),
            ("RSS after paging (MB)", f"{rss / 2**20:.0f}", f"{base_rss / 2**20:.0f}"),
        ]
    finally:
        for proc in (sim, baseline):
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        sys.path.insert(0, str(ROOT))
        serve_baseline(args.baseline_server)
        return
    rows = asyncio.run(run(args.pages, args.candidates))
    print(f"Ashby sandbox, {args.candidates:,} candidates (baseline: bare aiohttp, precomputed page)")
    print(f"{'metric':<44} {'sandbox':>10}  {'baseline':>18}")
    for metric, value, base in rows:
        print(f"{metric:<44} {value:>10}  {base:>18}")


if __name__ == "__main__":
    main()
