"""Shared plumbing of the sync benchmarks: a sandbox process, a fresh database, an account."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import asyncpg
import psutil
from pydantic import SecretStr

from store import accounts
from store.migrate import migrate
from store.pool import Pool, create_pool
from store.secrets import SecretBox, generate_key

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
API_KEY = "bench-key"
AUTH = {"Authorization": aiohttp.encode_basic_auth(API_KEY, "")}
SECRET_KEY = os.environ.get("BENCH_SECRET_KEY") or generate_key()  # a child measuring for a parent gets its key


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the local Postgres server's processes that are still running."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if proc.info["name"] == "postgres" and times is not None:
            total += times.user + times.system
    return total


def children_cpu_s() -> float:
    """CPU seconds used so far by this process's running children (the sandbox, when one runs)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def sandbox(
    candidates: int, *, latency_ms: int = 0, seed: int = 0, pregenerate: bool = False
) -> AsyncIterator[str]:
    """A sandbox in its own process; yields its base URL once it answers.

    `pregenerate`: the sandbox builds and encodes the whole org before it answers, so a full pass then costs it
    only serving bytes, as a real vendor's work costs this machine nothing.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "ashby_sim", "--port", str(port), "--candidates", str(candidates)]
    cmd += ["--seed", str(seed), "--api-key", API_KEY, "--latency-ms", str(latency_ms)]
    cmd += ["--pregenerate"] if pregenerate else []
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60 + (candidates / 1000 if pregenerate else 0)
            while True:
                try:
                    async with session.post(f"{url}/apiKey.info", json={}, headers=AUTH) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        await proc.wait()


@dataclass
class BenchDB:
    url: str
    pool: Pool
    account_id: uuid.UUID
    box: SecretBox


@asynccontextmanager
async def bench_database(base_url: str) -> AsyncIterator[BenchDB]:
    """A fresh database with the schema and one account pointing at `base_url`; dropped afterwards."""
    name = f"ashby_bench_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    await migrate(url)
    pool = await create_pool(url, max_size=20)
    box = SecretBox(SecretStr(SECRET_KEY))
    try:
        async with pool.acquire() as conn:
            account = await accounts.add_account(
                conn, box, name="bench", api_key=SecretStr(API_KEY), base_url=base_url, max_in_flight=8
            )
        yield BenchDB(url, pool, account.id, box)
    finally:
        await pool.close()
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await admin.close()
