"""`ashby-sync sync`, `status` and `worker` as a user runs them: what they say when things are not simply fine."""

import asyncio
import io
import os
import sys

import pytest
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress

from ashby_sim.permissions import SCOPES
from ashby_sync.sync_commands import ProgressBars
from store import accounts, sync_state
from store.secrets import SecretBox
from sync.passes import PassResult
from tests.cli.test_cli import ashby_sync, assert_one_line_error
from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the rich tables in `text`, each cell's wrapped lines joined by a space."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue  # borders, headers, titles, other lines
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:  # a wrapped line of the row above: its first column is blank
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def table_header(text: str) -> list[str]:
    """The column names of the (first) rich table in `text`, each name's wrapped lines joined by a space."""
    lines = [line.strip().strip("┃").split("┃") for line in text.splitlines() if line.startswith("┃")]
    return [" ".join(" ".join(parts).split()) for parts in zip(*lines, strict=True)]


def row_of(text: str, name: str) -> list[str]:
    (row,) = [r for r in table_rows(text) if name in r[:2]]
    return row


async def test_sync_without_accounts_is_one_line(db, env) -> None:
    code, _, err = await ashby_sync("sync", env=env)
    assert_one_line_error(code, err, 1, "no accounts yet", "accounts add")


async def test_a_full_pass_skipped_for_a_running_one_is_queued_and_said_so(db, env, account_id) -> None:
    async with sync_state.pass_lock(db, account_id, "candidates") as locked:  # another pass of candidates runs
        assert locked
        code, out, err = await ashby_sync(
            "sync", "--account", "sandbox", "--resource", "candidates", "--resource", "jobs", "--full", env=env
        )
    assert code == 0, err
    assert row_of(out, "candidates")[-1] == "skipped: another pass is running; a full pass is queued"
    assert row_of(out, "jobs")[1:2] == ["full"]
    async with db.acquire() as conn:
        assert (await sync_state.get_state(conn, account_id, "candidates")).full_requested
        assert not (await sync_state.get_state(conn, account_id, "jobs")).full_requested


async def test_a_skipped_pass_without_full_queues_nothing(db, env, account_id) -> None:
    async with sync_state.pass_lock(db, account_id, "jobs") as locked:
        assert locked
        code, out, err = await ashby_sync("sync", "--account", "sandbox", "--resource", "jobs", env=env)
    assert code == 0, err
    assert row_of(out, "jobs")[-1] == "skipped: another pass is running"
    async with db.acquire() as conn:
        assert not (await sync_state.get_state(conn, account_id, "jobs")).full_requested


@pytest.mark.sandbox(scopes=[s for s in SCOPES if s != "offers:read"])
async def test_a_resource_the_key_may_not_read_is_skipped_and_said_so(db, env, account_id) -> None:
    code, out, err = await ashby_sync(
        "sync", "--account", "sandbox", "--resource", "offers", "--resource", "jobs", "--full", env=env
    )
    assert code == 0, err
    assert row_of(out, "offers")[-1] == "skipped: the API key may not read it (offers:read)"
    assert row_of(out, "jobs")[1:2] == ["full"]
    async with db.acquire() as conn:  # nothing queued: a full pass of it would be skipped just the same
        assert not (await sync_state.get_state(conn, account_id, "offers")).full_requested


async def test_status_tells_a_running_pass_from_an_interrupted_one(db, env, account_id) -> None:
    async with db.acquire() as conn:  # a pass that wrote 3 pages and then failed (or its process died)
        await sync_state.begin_pass(conn, account_id, "candidates", "incremental")
        await conn.execute(
            "update sync_state set cursor = 'next', pass_pages = 3 where account_id = $1 and resource = 'candidates'",
            account_id,
        )
    code, out, err = await ashby_sync("status", env=env)
    assert code == 0, err
    assert row_of(out, "candidates")[7] == "interrupted after 3 pages (resumes on the next pass)"

    async with sync_state.pass_lock(db, account_id, "candidates") as locked:  # now a process is running it
        assert locked
        code, out, err = await ashby_sync("status", env=env)
    assert code == 0, err
    assert row_of(out, "candidates")[7] == "in progress: incremental pass, 3 pages"


async def test_status_shows_the_rows_mirrored_beside_the_last_pass_rows(db, env, account_id, fake_ashby) -> None:
    for _ in range(2):  # a full pass, then an incremental one that finds nothing new
        code, _, err = await ashby_sync("sync", "--account", "sandbox", "--resource", "candidates", env=env)
        assert code == 0, err
    code, out, err = await ashby_sync("status", env=env)
    assert code == 0, err
    assert table_header(out)[4:6] == ["last pass rows", "mirrored"]
    _, _, _, mode, last_rows, mirrored, *_ = row_of(out, "candidates")
    assert (mode, last_rows, mirrored) == ("incremental", "0", str(len(fake_ashby.ids("candidates"))))
    assert row_of(out, "jobs")[2:6] == ["never", "-", "-", "0"]


def test_a_resource_s_rate_counts_from_its_own_first_page() -> None:
    now = [100.0]
    progress = Progress(console=Console(file=io.StringIO()))
    bars = ProgressBars(progress, clock=lambda: now[0])

    def rate(resource: str) -> float:
        (task,) = [t for t in progress.tasks if t.description == resource]
        return float(task.fields["rate"])

    bars("candidates", 100, 1)
    now[0] = 110.0
    bars("candidates", 1100, 11)
    assert rate("candidates") == 100.0  # 1000 rows in the 10 s since its first page
    bars("interviews", 36, 1)  # starts late: its rate is its own, not 36 rows over the account's 10 s
    assert rate("interviews") == 0.0  # one page: no rate to tell yet
    now[0] = 112.0
    bars("interviews", 236, 2)
    assert rate("interviews") == 100.0

    bars.finish([PassResult("interviews", "full", rows=236, pages=2, seconds=0.5)])
    assert rate("interviews") == 472.0  # the pass's own rows over its own duration
    assert rate("candidates") == 100.0  # no result for it: left as it was


@pytest.mark.parametrize(("key", "fragment"), [(None, "ASHBY_SYNC_SECRET_KEY"), ("not-a-key", "Fernet")])
async def test_the_worker_without_a_usable_secret_key_fails_like_sync(env, redis_client, key, fragment) -> None:
    env = {k: v for k, v in env.items() if k != "ASHBY_SYNC_SECRET_KEY"} | (
        {"ASHBY_SYNC_SECRET_KEY": key} if key else {}
    )
    for command in ("sync", "worker"):
        code, _, err = await ashby_sync(command, *(["--burst"] if command == "worker" else []), env=env)
        assert_one_line_error(code, err, 2, fragment)


async def test_an_unreachable_ashby_is_named_in_the_failure(db, env) -> None:
    async with db.acquire() as conn:
        await accounts.add_account(
            conn,
            SecretBox(SecretStr(SECRET_KEY)),
            name="offline",
            api_key=SecretStr("k"),
            base_url="http://127.0.0.1:1",
        )
    code, out, _ = await ashby_sync("sync", "--account", "offline", "--resource", "jobs", env=env)
    assert code == 1
    result = row_of(out, "jobs")[-1]
    assert "AshbyTransportError" in result
    assert "Ashby at http://127.0.0.1:1" in result


async def test_flags_are_not_shown_as_taking_a_value() -> None:
    for command, flags in (("sync", ("--full",)), ("worker", ("--burst", "--check"))):
        code, out, _ = await ashby_sync(command, "--help")
        assert code == 0
        for flag in flags:
            (line,) = [line for line in out.splitlines() if f" {flag} " in line]
            assert "<bool>" not in line, line


async def test_worker_check_says_whether_a_worker_is_alive(db, env, redis_client) -> None:
    code, _, _ = await ashby_sync("worker", "--check", env=env)
    assert code == 1  # none runs
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ashby_sync",
        "worker",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(60):  # until the worker has started and written its health key
            while (await ashby_sync("worker", "--check", env=env))[0] != 0:
                assert worker.returncode is None, "the worker exited"
                await asyncio.sleep(0.2)
    finally:
        worker.terminate()
        await worker.wait()
