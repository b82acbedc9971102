"""The console script as a user runs it: a real process, real Postgres and Redis, the sandbox over HTTP."""

import asyncio
import os
import sys

import pytest

from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY


async def ashby_sync(*args: str, env: dict[str, str] | None = None, limit_s: float = 60) -> tuple[int, str, str]:
    """Run `python -m ashby_sync ARGS`; returns (exit code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "ASHBY_"))}
    full_env.update({"COLUMNS": "200", **(env or {})})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ashby_sync",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(limit_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_one_line_error(code: int, err: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}


async def test_help_lists_every_command() -> None:
    code, out, _ = await ashby_sync("--help")
    assert code == 0
    for command in ("db", "accounts", "sync", "status", "worker", "sandbox", "demo", "keygen"):
        assert command in out


async def test_an_unreachable_database_is_one_line_and_exit_1() -> None:
    code, _, err = await ashby_sync("db", "migrate", env={"DATABASE_URL": "postgresql://127.0.0.1:1/nowhere"})
    assert_one_line_error(code, err, 1, "127.0.0.1:1/nowhere")


async def test_a_malformed_database_url_is_one_line() -> None:
    code, _, err = await ashby_sync("accounts", "list", env={"DATABASE_URL": "mysql://what"})
    assert_one_line_error(code, err, 1, "DATABASE_URL")


async def test_a_missing_secret_key_is_a_config_error(env, fake_ashby) -> None:
    env = {k: v for k, v in env.items() if k != "ASHBY_SYNC_SECRET_KEY"}
    code, _, err = await ashby_sync(
        "accounts", "add", "--name", "x", "--api-key", fake_ashby.api_key, "--base-url", fake_ashby.base_url, env=env
    )
    assert_one_line_error(code, err, 2, "ASHBY_SYNC_SECRET_KEY", "keygen")


async def test_a_wrong_secret_key_is_a_config_error(env) -> None:
    code, _, err = await ashby_sync("sync", env={**env, "ASHBY_SYNC_SECRET_KEY": "not-a-key"})
    assert_one_line_error(code, err, 2, "Fernet")


async def test_a_bad_api_key_is_refused_and_nothing_is_stored(db, env, fake_ashby) -> None:
    code, _, err = await ashby_sync(
        "accounts", "add", "--name", "x", "--api-key", "wrong", "--base-url", fake_ashby.base_url, env=env
    )
    assert_one_line_error(code, err, 1, "rejected the API key", "403")
    async with db.acquire() as conn:
        assert await conn.fetchval("select count(*) from accounts") == 0


async def test_add_list_sync_and_status_end_to_end(db, env, fake_ashby) -> None:
    code, out, err = await ashby_sync(
        "accounts", "add", "--name", "acme", "--api-key", fake_ashby.api_key, "--base-url", fake_ashby.base_url, env=env
    )
    assert code == 0, err
    assert "candidates:read" in out
    code, out, _ = await ashby_sync("accounts", "list", env=env)
    assert code == 0
    assert "acme" in out
    assert fake_ashby.api_key not in out
    code, out, err = await ashby_sync("sync", "--account", "acme", "--resource", "candidates", env=env)
    assert code == 0, err
    assert "candidates" in out
    assert "full" in out
    code, out, _ = await ashby_sync("status", env=env)
    assert code == 0
    assert "candidates" in out
    code, _, err = await ashby_sync(
        "accounts", "add", "--name", "acme", "--api-key", fake_ashby.api_key, "--base-url", fake_ashby.base_url, env=env
    )
    assert_one_line_error(code, err, 1, "exists already")


async def test_a_failing_pass_exits_non_zero(db, env, fake_ashby) -> None:
    code, _, err = await ashby_sync(
        "accounts", "add", "--name", "acme", "--api-key", fake_ashby.api_key, "--base-url", fake_ashby.base_url, env=env
    )
    assert code == 0, err
    fake_ashby.fail_next("candidate.list", status=403)
    code, out, _ = await ashby_sync("sync", "--account", "acme", "--resource", "candidates", env=env)
    assert code == 1
    assert "AshbyForbidden" in out


async def test_an_unknown_account_is_one_line(env) -> None:
    code, _, err = await ashby_sync("sync", "--account", "nobody", env=env)
    assert_one_line_error(code, err, 1, "nobody")


async def test_an_unknown_resource_is_a_usage_error(env) -> None:
    code, _, err = await ashby_sync("sync", "--resource", "widgets", env=env)
    assert_one_line_error(code, err, 2, "widgets")


@pytest.mark.parametrize(
    "args",
    [("sync", "--bogus"), ("accounts", "add", "--api-key", "k"), ("sandbox", "--port", "notaport"), ("nope",)],
)
async def test_malformed_flags_give_usage_and_exit_2(env, args) -> None:
    code, _, err = await ashby_sync(*args, env=env)
    assert code == 2
    assert "Traceback" not in err
    assert "Usage" in err or "Error" in err


async def test_the_worker_with_redis_down_is_one_line(env) -> None:
    code, _, err = await ashby_sync("worker", env={**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 1, err
    assert "Traceback" not in err
    assert lines == [lines[0]]
    assert "Redis at 127.0.0.1:1" in lines[0]


async def test_migrate_is_idempotent_from_the_command_line(env) -> None:
    for _ in range(2):
        code, out, err = await ashby_sync("db", "migrate", env=env)
        assert code == 0, err
        assert "version 1" in out
