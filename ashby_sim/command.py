"""`ashby-sync sandbox` (and `python -m ashby_sim`): serve a seeded sandbox until Ctrl-C."""

import asyncio
import logging
import sys
import time
from typing import Annotated

import typer
from aiohttp import web

from ashby_sim.app import create_app
from ashby_sim.data import GENERATORS
from ashby_sim.state import SimState
from core.logging import configure_logging


async def start_sandbox(state: SimState, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Serve `state` on host:port (0: any free port); sets `state.base_url`. Call `runner.cleanup()` to stop."""
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    state.base_url = f"http://{host}:{bound}"
    return runner


async def _serve(state: SimState, host: str, port: int) -> None:
    runner = await start_sandbox(state, host, port)
    try:
        print(f"Ashby sandbox listening: base URL {state.base_url}  API key {state.api_key}", flush=True)
        print(f"  e.g. ASHBY_BASE_URL={state.base_url} ASHBY_API_KEY={state.api_key}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def sandbox_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8900,
    seed: Annotated[int, typer.Option(help="Seed of the generated org: same seed, same data.")] = 0,
    candidates: Annotated[int, typer.Option(help="Candidates to generate; every other collection scales.")] = 1000,
    api_key: Annotated[str, typer.Option(help="The API key clients must send (Basic auth username).")] = "sandbox-key",
    latency_ms: Annotated[int, typer.Option(help="Response time of each request in ms, work included.")] = 0,
    rate_429: Annotated[float, typer.Option(help="Fraction of requests answered HTTP 429.")] = 0,
    retry_after: Annotated[
        float | None, typer.Option(help="Retry-After seconds sent with 429s (none: no header).")
    ] = None,
    rate_5xx: Annotated[float, typer.Option(help="Fraction of requests answered HTTP 5xx.")] = 0,
    incremental_cap: Annotated[
        int | None, typer.Option(help="Most changes an incremental sync may return (more: incremental_sync_too_large).")
    ] = None,
    sync_token_ttl: Annotated[
        float | None, typer.Option(help="Seconds after which a syncToken expires (none: never).")
    ] = None,
    webhook_drop: Annotated[float, typer.Option(help="Fraction of webhook deliveries silently dropped.")] = 0,
    webhook_duplicate: Annotated[float, typer.Option(help="Fraction of webhook deliveries sent twice.")] = 0,
    webhook_reorder: Annotated[
        bool, typer.Option(help="Deliver webhooks fired close together in reverse order.")
    ] = False,
    webhook_retry_base: Annotated[
        float, typer.Option(help="Webhook retry base delay in seconds (Ashby: 10; retry n waits (2^n-1)*base).")
    ] = 10.0,
    pregenerate: Annotated[
        bool,
        typer.Option(
            help="Generate and encode the whole org before serving, so full list passes cost the sandbox no "
            "generation (until the first change); about 2 KB of memory a record. For benchmarking clients."
        ),
    ] = False,
) -> None:
    """Run the simulated Ashby API: prints the base URL and API key to use, then serves until Ctrl-C."""
    configure_logging(as_json=False, stream=sys.stderr, level=logging.INFO)
    state = SimState(seed=seed, candidates=candidates, api_key=api_key)
    state.faults.update(
        {
            "latency_ms": latency_ms,
            "rate_429": rate_429,
            "retry_after": retry_after,
            "rate_5xx": rate_5xx,
            "incremental_cap": incremental_cap,
            "sync_token_ttl": sync_token_ttl,
            "webhook_drop": webhook_drop,
            "webhook_duplicate": webhook_duplicate,
            "webhook_reorder": webhook_reorder,
            "webhook_retry_base": webhook_retry_base,
        }
    )
    if pregenerate:
        started = time.monotonic()
        n = state.records.pregenerate(GENERATORS)
        print(f"pregenerated {n:,} records in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    try:
        asyncio.run(_serve(state, host, port))
    except KeyboardInterrupt:
        print("Ashby sandbox stopped", file=sys.stderr)
