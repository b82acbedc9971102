"""`serve_command` as a process: it serves until SIGTERM, and fails with one line when it cannot start."""

import asyncio
import os
import signal
import sys

import aiohttp
import orjson

from ashby_api.webhooks import SIGNATURE_HEADER, sign
from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY
from tests.webhooks.conftest import WEBHOOK_SECRET, closed_port, envelope, inbox_rows

# The lead registers serve_command as `ashby-sync serve`; run it on its own the same way typer will.
SERVE = "import typer; from ashby_sync.serve_command import serve_command; typer.run(serve_command)"


async def start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "ASHBY_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVE,
        *args,
        env={**base, "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_stores_a_signed_webhook_and_stops_cleanly_on_sigterm(db, database_url, account_id, secret):
    port = closed_port()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "ASHBY_SYNC_SECRET_KEY": SECRET_KEY,
        "LOG_FORMAT": "json",
        "ASHBY_SYNC_DEBUG": "1",  # accepted deliveries are logged at DEBUG
    }
    proc = await start("--host", "127.0.0.1", "--port", str(port), env=env)
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(20):
            while True:  # the log says when it listens: no polling
                line = await proc.stderr.readline()
                assert line, "serve exited before listening"
                if orjson.loads(line)["event"] == "receiver_listening":
                    break
            body = envelope("offerUpdate")
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                headers = {SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body)}
                async with session.post(f"/webhooks/ashby/{account_id}", data=body, headers=headers) as resp:
                    assert (resp.status, await resp.json()) == (200, {"status": "stored"})
                async with session.get("/readyz") as resp:
                    assert resp.status == 200
            proc.send_signal(signal.SIGTERM)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0, err.decode()
    events = [orjson.loads(line)["event"] for line in err.splitlines() if line.startswith(b"{")]
    assert {"webhook_stored", "inbox_batch_written"} <= set(events)
    assert "receiver_stopping" in events
    assert [r["body"] for r in await inbox_rows(db)] == [body]


async def test_serve_with_postgres_down_fails_with_one_line(database_url):
    env = {"DATABASE_URL": f"postgresql://127.0.0.1:{closed_port()}/nowhere", "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}
    proc = await start("--port", str(closed_port()), env=env)
    async with asyncio.timeout(30):
        _, err = await proc.communicate()

    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: cannot connect to Postgres at 127.0.0.1:")


async def test_serve_without_a_secret_key_is_a_config_error():
    proc = await start("--port", str(closed_port()), env={})
    async with asyncio.timeout(30):
        _, err = await proc.communicate()

    assert proc.returncode == 2
    assert err.decode().strip().splitlines() == [
        "error: ASHBY_SYNC_SECRET_KEY is not set: run `ashby-sync keygen` and export the key it prints"
    ]


async def test_serve_on_a_port_in_use_fails_with_one_line(database_url):
    env = {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await start("--host", "127.0.0.1", "--port", str(port), env=env)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
    finally:
        server.close()
        await server.wait_closed()

    lines = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert proc.returncode == 1
    assert lines == [f"error: cannot listen on 127.0.0.1:{port}: the port is in use (choose another with --port)"]
