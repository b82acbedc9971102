import asyncio
import dataclasses
import math

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from ashby_api.errors import AshbyForbidden, AshbyRateLimited, AshbyServerError
from ashby_api.resources import BY_NAME, RESOURCES, SyncMode
from store import mirror, sync_state
from store.locks import lock_holder, lock_key
from sync.accounts import sync_account
from sync.passes import ParentNotMirroredError, SyncProtocolError, sync_resource
from tests.helpers import DEFAULT_RETRY_NO_WAIT, assert_mirror_matches, lock_waiters, row_locked

CANDIDATES = BY_NAME["candidates"]
APPLICATIONS = BY_NAME["applications"]


async def test_a_full_pass_of_every_resource_mirrors_the_sandbox_exactly(db, fake_ashby, sync_ctx, account_id) -> None:
    results, failures = await sync_account(sync_ctx)
    assert failures == []
    assert {r.resource for r in results} == set(BY_NAME)
    assert all(r.mode == "full" for r in results)
    assert [(r.resource, r.rejected) for r in results if r.rejected] == []  # the sandbox sends what Ashby documents
    for resource in RESOURCES:
        await assert_mirror_matches(db, account_id, fake_ashby, resource.name)
    async with db.acquire() as conn:
        states = await sync_state.list_states(conn, account_id)
        mirrored = {s.resource: await mirror.count_rows(conn, BY_NAME[s.resource].name, account_id) for s in states}
        unstamped = [
            r.name for r in RESOURCES if await conn.fetchval(f"select count(*) from {r.name} where fetched_at is null")
        ]
    for s in states:
        assert not s.in_progress
        assert s.last_success_at is not None
        assert (s.sync_token is not None) == (BY_NAME[s.resource].mode is SyncMode.INCREMENTAL), s.resource
        assert s.last_rows == mirrored[s.resource] > 0, s.resource  # a first full pass lists every row once
    assert unstamped == []  # every row knows when it was read from Ashby


@pytest.mark.sandbox(candidates=400)
@pytest.mark.parametrize("k", [0, 1, 100, 150])
async def test_an_incremental_pass_after_k_changes_makes_at_most_ceil_k_over_100_plus_1_calls(
    db, fake_ashby, sync_ctx, account_id, k
) -> None:
    await sync_account(sync_ctx)
    if k:
        fake_ashby.touch("candidates", k)
    fake_ashby.reset_request_log()
    results, failures = await sync_account(sync_ctx)
    assert failures == []
    by_name = {r.resource: r for r in results}
    assert by_name["candidates"].mode == "incremental"
    assert by_name["candidates"].rows == k
    assert fake_ashby.request_count("candidate.list") <= math.ceil(k / 100) + 1
    for resource in RESOURCES:
        if resource.mode is SyncMode.INCREMENTAL and resource.name != "candidates":
            assert fake_ashby.request_count(resource.endpoint) == 1, resource.name
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


@pytest.mark.parametrize(
    "code",
    [
        "sync_token_expired",
        "sync_token_invalid",
        "incremental_sync_too_large",
        "next_cursor_expired",
        "invalid_next_cursor",
    ],
)
async def test_a_recovery_error_restarts_the_pass_full_and_ends_exact(
    db, fake_ashby, sync_ctx, account_id, code
) -> None:
    await sync_resource(sync_ctx, CANDIDATES)
    changed = fake_ashby.touch("candidates", 3)
    fake_ashby.delete_candidate(changed[0])
    fake_ashby.fail_next("candidate.list", code=code)
    restarts = _restarts("candidates", code)
    with capture_logs() as logs:
        result = await sync_resource(sync_ctx, CANDIDATES)
    assert result.restarted == code
    assert result.mode == "full"
    assert result.deleted == 1
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
    said = [e for e in logs if e["event"] == "sync_pass_restarted"]
    assert [(e["resource"], e["reason"], e["log_level"]) for e in said] == [("candidates", code, "warning")]
    assert _restarts("candidates", code) == restarts + 1


def _restarts(resource: str, reason: str) -> float:
    labels = {"resource": resource, "reason": reason}
    return REGISTRY.get_sample_value("ashby_sync_restarts_total", labels) or 0.0


@pytest.mark.sandbox(candidates=1500)
@pytest.mark.parametrize("resumed", [False, True], ids=["running", "resumed"])
async def test_cursors_expiring_in_the_middle_of_a_pass_restart_it_full_and_it_ends_exact(
    db, fake_ashby, sync_ctx, account_id, resumed
) -> None:
    # Cursors expire once pages are committed: under the running pass, or after a failure stopped it (its checkpoint
    # holding a cursor), so that the run resuming it meets the expiry on its first request.
    async def pages_committed() -> None:
        async with asyncio.timeout(10):
            while True:
                async with db.acquire() as conn:
                    if (await sync_state.get_state(conn, account_id, "candidates")).pass_pages >= 2:
                        return
                await asyncio.sleep(0.01)

    fake_ashby.faults.latency_ms = 30
    try:
        run = asyncio.create_task(sync_resource(sync_ctx, CANDIDATES))
        await pages_committed()
        if resumed:
            fake_ashby.fail_next("candidate.list", status=403)  # not retried: the run stops, its checkpoint kept
            with pytest.raises(AshbyForbidden):
                await run
            async with db.acquire() as conn:
                assert (await sync_state.get_state(conn, account_id, "candidates")).cursor is not None
            fake_ashby.expire_cursors()
            result = await sync_resource(sync_ctx, CANDIDATES)
        else:
            fake_ashby.expire_cursors()
            result = await run
    finally:
        fake_ashby.faults.latency_ms = 0
    assert (result.mode, result.restarted) == ("full", "next_cursor_expired")
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def test_a_full_pass_marks_deleted_rows_and_clears_their_pii(db, fake_ashby, sync_ctx, account_id) -> None:
    await sync_resource(sync_ctx, CANDIDATES)
    gone = fake_ashby.ids("candidates")[0]
    fake_ashby.delete_candidate(gone)
    incremental = await sync_resource(sync_ctx, CANDIDATES)
    assert incremental.deleted == 0  # Ashby reports no deletes in incremental results
    full = await sync_resource(sync_ctx, CANDIDATES, full=True)
    assert full.deleted == 1
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "select name, primary_email, emails, phones, raw, deleted_at from candidates where id = $1", gone
        )
    assert row["deleted_at"] is not None
    assert row["name"] is None
    assert row["primary_email"] is None
    assert row["emails"] == []
    assert row["phones"] == []
    assert row["raw"] == {"id": gone}
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def assert_applications_embed_the_anonymised(db, account_id, candidate_id: str) -> None:
    """The candidate's applications in the mirror (there are some) embed it anonymised: no email, no phone."""
    async with db.acquire() as conn:
        embedded = await conn.fetch(
            "select raw->'candidate' as c from applications where account_id = $1 and candidate_id = $2",
            account_id,
            candidate_id,
        )
    assert embedded
    assert all(r["c"] == {"id": candidate_id, "name": "Anonymized Candidate"} for r in embedded)


async def test_an_anonymised_candidate_leaves_its_applications_with_the_next_incremental_pass(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    for resource in (CANDIDATES, APPLICATIONS):
        await sync_resource(sync_ctx, resource)
    app = next(a for a in fake_ashby.all_records("applications") if "primaryEmailAddress" in a["candidate"])
    candidate_id = app["candidate"]["id"]
    fake_ashby.anonymize_candidate(candidate_id)  # Ashby changes the candidate, not its applications' updatedAt
    assert (await sync_resource(sync_ctx, CANDIDATES)).rows == 1
    assert (await sync_resource(sync_ctx, APPLICATIONS)).rows == 0  # incremental: no application listed
    await assert_applications_embed_the_anonymised(db, account_id, candidate_id)
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def test_a_candidate_first_mirrored_after_its_anonymisation_leaves_its_applications_too(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await sync_resource(sync_ctx, APPLICATIONS)  # the candidates pass has not run yet (or failed)
    app = next(a for a in fake_ashby.all_records("applications") if "primaryEmailAddress" in a["candidate"])
    candidate_id = app["candidate"]["id"]
    fake_ashby.anonymize_candidate(candidate_id)
    await sync_resource(sync_ctx, CANDIDATES)  # its first pass: the candidate is inserted, not replaced
    await assert_applications_embed_the_anonymised(db, account_id, candidate_id)
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")


@pytest.mark.parametrize("resource", [CANDIDATES, APPLICATIONS])
async def test_an_application_written_stale_beside_its_candidates_change_is_repaired_when_a_pass_ends(
    db, fake_ashby, sync_ctx, account_id, resource
) -> None:
    for r in (CANDIDATES, APPLICATIONS):
        await sync_resource(sync_ctx, r)
    app = next(a for a in fake_ashby.all_records("applications") if "primaryEmailAddress" in a["candidate"])
    fake_ashby.anonymize_candidate(app["candidate"]["id"])
    await sync_resource(sync_ctx, CANDIDATES)
    # What two pages committing at once can leave (each refreshing before the other's rows were visible): the
    # application as it was fetched before the change, written after the candidate's page.
    async with db.acquire() as conn:
        assert (await mirror.upsert_page(conn, "applications", account_id, [app])).written == 1
        assert (await conn.fetchval("select raw->'candidate' from applications where id = $1", app["id"])) == app[
            "candidate"
        ]
    assert (await sync_resource(sync_ctx, resource)).rows == 0  # nothing listed: only the pass's end sees it
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")


async def test_a_full_pass_is_recorded_complete_only_with_its_deletes(db, fake_ashby, sync_ctx, account_id) -> None:
    await sync_resource(sync_ctx, CANDIDATES)
    async with db.acquire() as conn:
        before = await sync_state.get_state(conn, account_id, "candidates")
    gone = fake_ashby.ids("candidates")[0]
    fake_ashby.delete_candidate(gone)
    async with db.acquire() as blocker, blocker.transaction():
        await blocker.execute("select 1 from candidates where id = $1 for update", gone)
        full = asyncio.create_task(sync_resource(sync_ctx, CANDIDATES, full=True))
        (waiting,) = await lock_waiters(db)  # the pass is marking `gone` deleted, held up by the row lock
        assert "deleted_at" in waiting
        async with db.acquire() as conn:
            during = await sync_state.get_state(conn, account_id, "candidates")
        assert during.in_progress  # a crash now would leave the pass to be resumed, not recorded as complete
        assert during.last_success_at == before.last_success_at
    result = await full
    assert result.deleted == 1
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


@pytest.mark.sandbox(candidates=300)
async def test_a_page_waiting_for_the_one_before_gives_way_to_a_transaction_it_blocks(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    # A webhook batch holds a row of page 1 and wants one of page 2, which page 2 holds while it waits (in this
    # process, where Postgres cannot see it) for page 1 to commit: a cycle unless page 2 lets go.
    await sync_resource(sync_ctx, CANDIDATES)
    ids = fake_ashby.ids("candidates")
    in_page_1, in_page_2 = ids[0], ids[150]
    async with asyncio.timeout(20), db.acquire() as batch:
        async with batch.transaction():
            await batch.execute("select 1 from candidates where id = $1 for update", in_page_1)
            full = asyncio.create_task(sync_resource(sync_ctx, CANDIDATES, full=True))
            await lock_waiters(db)  # page 1 waits for the batch
            await row_locked(db, "candidates", in_page_2)  # page 2 is written, and waits for page 1
            await batch.execute("select 1 from candidates where id = $1 for update", in_page_2)
        result = await full
    assert result.mode == "full"
    assert result.rows == 300
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


@pytest.mark.sandbox(candidates=1200)
async def test_pages_queued_while_the_writer_waits_are_written_together_and_exactly(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    def writes() -> tuple[float, float]:
        labels = {"resource": "candidates"}
        count = REGISTRY.get_sample_value("ashby_sync_pages_per_write_count", labels) or 0.0
        return count, REGISTRY.get_sample_value("ashby_sync_pages_per_write_sum", labels) or 0.0

    before = writes()
    first_id = fake_ashby.ids("candidates")[0]
    async with asyncio.timeout(20), db.acquire() as other:
        async with other.transaction():  # an uncommitted row of page 1: its write waits while the fetcher queues more
            await other.execute(
                "insert into candidates (account_id, id, raw) values ($1, $2, '{}') on conflict do nothing",
                account_id,
                first_id,
            )
            sync = asyncio.create_task(sync_resource(sync_ctx, CANDIDATES))
            await lock_waiters(db)
            await asyncio.sleep(0.3)  # the fetcher fills the queue (4 pages) and waits
            await other.execute("delete from candidates where id = $1", first_id)
        result = await sync
    count, pages = (after - first for after, first in zip(writes(), before, strict=True))
    assert (result.rows, result.pages, pages) == (1200, 12, 12)
    assert count < 12  # some writes took several pages
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
    async with db.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, "candidates")
    assert (state.last_rows, state.last_pages) == (1200, 12)


async def _terminate_lock_holder(db, name: str) -> None:
    """End the session holding the advisory lock `name` (as a dropped connection would)."""
    async with db.acquire() as conn:
        pid = await lock_holder(conn, name)
        assert pid is not None
        assert await conn.fetchval("select pg_terminate_backend($1, 5000)", pid)  # returns once it has ended


@pytest.mark.sandbox(candidates=3000)  # 30 pages at 40 ms: over a second left when the second run begins
async def test_a_pass_whose_lock_was_lost_stops_once_another_run_resumes_it(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    fake_ashby.faults.latency_ms = 40
    try:
        first = asyncio.create_task(sync_resource(sync_ctx, CANDIDATES))
        async with asyncio.timeout(10):
            while True:  # until the first run has committed a few pages
                async with db.acquire() as conn:
                    if (await sync_state.get_state(conn, account_id, "candidates")).pass_pages >= 2:
                        break
                await asyncio.sleep(0.01)
        # the first run's lock connection drops; a second worker takes the lock and resumes the pass
        await _terminate_lock_holder(db, f"sync:{account_id}:candidates")
        second = await sync_resource(sync_ctx, CANDIDATES)
        first_result = await first  # neither raises: the lock's dead connection is no error either
    finally:
        fake_ashby.faults.latency_ms = 0
    assert first_result.mode == "skipped"  # superseded at its next checkpoint
    assert second.mode == "full"
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
    async with db.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, "candidates")
    assert state.last_rows == 3000  # every page counted once: the first run wrote nothing after the second claimed
    assert state.last_error is None
    assert not state.in_progress


async def test_two_passes_racing_on_one_resource_run_once(db, fake_ashby, sync_ctx, account_id) -> None:
    fake_ashby.faults.latency_ms = 20
    try:
        first, second = await asyncio.gather(sync_resource(sync_ctx, CANDIDATES), sync_resource(sync_ctx, CANDIDATES))
    finally:
        fake_ashby.faults.latency_ms = 0
    assert sorted([first.mode, second.mode]) == ["full", "skipped"]
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def test_a_pass_whose_lock_another_postgres_session_holds_is_skipped(db, sync_ctx, account_id) -> None:
    # Only Postgres knows of this holder (a session that took the lock by SQL), as of a worker in another process.
    async with db.acquire() as conn:
        assert await conn.fetchval("select pg_try_advisory_lock($1)", lock_key(f"sync:{account_id}:candidates"))
        held = await sync_resource(sync_ctx, CANDIDATES)
        await conn.execute("select pg_advisory_unlock_all()")
    after = await sync_resource(sync_ctx, CANDIDATES)
    assert (held.mode, after.mode) == ("skipped", "full")
    async with db.acquire() as conn:
        assert await mirror.count_rows(conn, "candidates", account_id) == after.rows > 0


@pytest.mark.sandbox(candidates=300)
async def test_passes_stay_exact_through_429_storms_and_5xx(db, fake_ashby, sync_ctx, account_id) -> None:
    # The shipped retry policy (without its waits). A call can still fail all its attempts (0.35^5, 0.5 % of calls):
    # that pass fails with its checkpoint kept, and is run again as the worker would, resuming where it stopped.
    ctx = dataclasses.replace(sync_ctx, retry=DEFAULT_RETRY_NO_WAIT)

    async def until_done() -> None:
        for _ in range(10):
            _, failures = await sync_account(ctx)
            assert all(isinstance(exc, (AshbyRateLimited, AshbyServerError)) for _, exc in failures), failures
            if not failures:
                return
        raise AssertionError("passes still failing after 10 runs")

    fake_ashby.faults.rate_429 = 0.3
    fake_ashby.faults.rate_5xx = 0.05
    try:
        await until_done()
        fake_ashby.touch("candidates", 120)
        fake_ashby.touch("applications", 30)
        await until_done()
    finally:
        fake_ashby.faults.rate_429 = 0
        fake_ashby.faults.rate_5xx = 0
    statuses = {r.status for r in fake_ashby.requests}
    assert {429, 200} <= statuses  # the storm really hit
    for resource in RESOURCES:
        await assert_mirror_matches(db, account_id, fake_ashby, resource.name)


async def test_bad_data_from_ashby_is_stored_raw_and_never_crashes_the_pass(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await sync_account(sync_ctx, [CANDIDATES, APPLICATIONS])
    ids = fake_ashby.ids("candidates")[:2]
    bad = [fake_ashby.records.editable("candidates", i) for i in ids]
    del bad[0]["name"]  # a missing required field
    bad[1]["name"] = "x" * 500_000  # a huge string
    bad[1]["createdAt"] = "yesterday"
    app = fake_ashby.records.editable("applications", fake_ashby.ids("applications")[0])
    app["status"] = "Transferred"  # an unknown enum value
    for rec in bad:
        fake_ashby.records.put("candidates", rec)
    fake_ashby.records.put("applications", app)
    with capture_logs() as logs:
        results, failures = await sync_account(sync_ctx, [CANDIDATES, APPLICATIONS])
    assert failures == []
    assert {(r.resource, r.rows, r.rejected) for r in results} == {("candidates", 2, 3), ("applications", 1, 1)}
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
    reported = {(e["resource"], e["record_id"], e["field"]) for e in logs if e["event"] == "sync_field_rejected"}
    assert reported == {
        ("candidates", ids[0], "name: missing"),
        ("candidates", ids[1], "name"),
        ("candidates", ids[1], "createdAt"),
        ("applications", app["id"], "status: unknown value"),
    }
    async with db.acquire() as conn:
        assert await conn.fetchval("select name from candidates where id = $1", ids[1]) is None
        row = await conn.fetchrow("select status, raw from applications where id = $1", app["id"])
    assert row["status"] == row["raw"]["status"] == "Transferred"


async def test_a_name_cut_in_the_middle_of_an_emoji_is_stored_repaired_and_never_stops_the_pass(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    # Ashby's JSON.stringify writes half a surrogate pair as a lone \ud83d escape: valid JSON that orjson refuses
    await sync_resource(sync_ctx, CANDIDATES)
    cut, other = fake_ashby.ids("candidates")[:2]
    fake_ashby.update_candidate(cut, name="Zoë \ud83d")
    fake_ashby.update_candidate(other, name="Zoë 😀")
    result = await sync_resource(sync_ctx, CANDIDATES)
    assert result.rows == 2
    async with db.acquire() as conn:
        row = await conn.fetchrow("select name, raw from candidates where id = $1", cut)
        whole = await conn.fetchval("select name from candidates where id = $1", other)
    assert row["name"] == row["raw"]["name"] == "Zoë \ufffd"
    assert {**row["raw"], "name": "Zoë \ud83d"} == fake_ashby.get("candidates", cut)
    assert whole == "Zoë 😀"


async def test_a_pass_that_ends_without_a_sync_token_is_an_error_not_a_checkpoint(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    fake_ashby.faults.omit_sync_token = True
    try:
        with pytest.raises(SyncProtocolError):
            await sync_resource(sync_ctx, CANDIDATES)
    finally:
        fake_ashby.faults.omit_sync_token = False
    async with db.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, "candidates")
    assert state.sync_token is None
    assert state.last_error is not None
    assert state.last_success_at is None


@pytest.mark.sandbox(candidates=200)
async def test_a_page_promising_more_data_without_a_cursor_is_an_error_and_never_checkpointed(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await sync_resource(sync_ctx, CANDIDATES)  # a stored syncToken, which the failed pass must keep
    async with db.acquire() as conn:
        token = (await sync_state.get_state(conn, account_id, "candidates")).sync_token
    for cid in fake_ashby.ids("candidates")[:150]:  # two pages of changes
        fake_ashby.update_candidate(cid, company="Renamed Ltd")
    fake_ashby.faults.omit_next_cursor = True
    try:
        with pytest.raises(SyncProtocolError, match="nextCursor"):
            await sync_resource(sync_ctx, CANDIDATES)
    finally:
        fake_ashby.faults.omit_next_cursor = False
    async with db.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, "candidates")
        renamed = await conn.fetchval("select count(*) from candidates where company = 'Renamed Ltd'")
    assert (state.sync_token, state.cursor) == (token, None)
    assert renamed == 0  # the page without its cursor was not written either
    assert state.last_error is not None
    assert "nextCursor" in state.last_error


async def test_a_resource_listed_per_parent_waits_for_its_parent_to_be_mirrored(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    stages, plans = BY_NAME["interview_stages"], BY_NAME["interview_plans"]
    with pytest.raises(ParentNotMirroredError) as raised:  # retryable: the worker tries again later
        await sync_resource(sync_ctx, stages)
    assert raised.value.retryable
    async with db.acquire() as conn:
        assert (await sync_state.get_state(conn, account_id, "interview_stages")).last_success_at is None
    await sync_resource(sync_ctx, plans)
    result = await sync_resource(sync_ctx, stages)
    assert result.rows > 0
    await assert_mirror_matches(db, account_id, fake_ashby, "interview_stages")


async def test_a_non_retryable_error_fails_the_pass_and_is_recorded(db, fake_ashby, sync_ctx, account_id) -> None:
    fake_ashby.fail_next("candidate.list", status=403)
    with pytest.raises(AshbyForbidden):
        await sync_resource(sync_ctx, CANDIDATES)
    async with db.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, "candidates")
    assert "AshbyForbidden" in (state.last_error or "")
