"""Per (account, resource) sync state: the stored syncToken, the checkpoint of a pass in progress, outcomes."""

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.errors import PassSupersededError
from store.locks import lock_held, try_advisory_lock
from store.pool import Conn, Pool


@dataclass(frozen=True, slots=True)
class SyncState:
    """What a pass needs to start or resume, and what `status` shows."""

    account_id: uuid.UUID
    resource: str
    sync_token: str | None = None
    cursor: str | None = None  # set while a pass is in progress: the next page to fetch
    pass_mode: str | None = None  # 'full' | 'incremental' of the pass in progress
    pass_started_at: datetime | None = None
    pass_claim: uuid.UUID | None = None  # the run that owns the pass now: each run that begins or resumes it claims it
    pass_rows: int = 0
    pass_pages: int = 0
    last_success_at: datetime | None = None
    last_mode: str | None = None
    last_rows: int | None = None
    last_pages: int | None = None
    last_duration_ms: int | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    full_requested: bool = False

    @property
    def in_progress(self) -> bool:
        return self.pass_mode is not None


_FIELDS = tuple(SyncState.__dataclass_fields__)


def _state(row: asyncpg.Record) -> SyncState:
    return SyncState(**{f: row[f] for f in _FIELDS})


async def get_state(conn: Conn, account_id: uuid.UUID, resource: str) -> SyncState:
    """The state of one (account, resource); an empty one when it never synced."""
    row = await conn.fetchrow("select * from sync_state where account_id = $1 and resource = $2", account_id, resource)
    return _state(row) if row is not None else SyncState(account_id=account_id, resource=resource)


async def list_states(conn: Conn, account_id: uuid.UUID | None = None) -> list[SyncState]:
    """Every stored state, by account and resource."""
    rows = await conn.fetch(
        "select * from sync_state where $1::uuid is null or account_id = $1 order by account_id, resource",
        account_id,
    )
    return [_state(r) for r in rows]


async def begin_pass(conn: Conn, account_id: uuid.UUID, resource: str, mode: str) -> SyncState:
    """Record that a pass starts now (a full one drops the stored token), claimed by the caller; returns its state."""
    row = await conn.fetchrow(
        """insert into sync_state as s
             (account_id, resource, pass_mode, pass_started_at, pass_claim, cursor, pass_rows, pass_pages)
           values ($1, $2, $3, now(), gen_random_uuid(), null, 0, 0)
           on conflict (account_id, resource) do update set
             pass_mode = $3, pass_started_at = now(), pass_claim = gen_random_uuid(), cursor = null, pass_rows = 0,
             pass_pages = 0,
             sync_token = case when $3 = 'full' then null else s.sync_token end,
             full_requested = case when $3 = 'full' then false else s.full_requested end
           returning *""",
        account_id,
        resource,
        mode,
    )
    assert row is not None
    return _state(row)


async def claim_pass(conn: Conn, account_id: uuid.UUID, resource: str) -> SyncState:
    """Take over the pass in progress (to resume it): from now on only the caller's checkpoints commit.

    A run that lost its lock (its connection dropped) while another run resumed its pass then fails its next
    checkpoint instead of writing beside the new one.

    Raises:
        PassSupersededError: no pass is in progress any more.
    """
    row = await conn.fetchrow(
        """update sync_state set pass_claim = gen_random_uuid()
           where account_id = $1 and resource = $2 and pass_mode is not null returning *""",
        account_id,
        resource,
    )
    if row is None:
        raise PassSupersededError(f"the pass of {resource} in progress has ended")
    return _state(row)


async def checkpoint(
    conn: Conn,
    account_id: uuid.UUID,
    resource: str,
    *,
    cursor: str,
    rows: int,
    claim: uuid.UUID,
    pages: int = 1,
) -> None:
    """Record written pages (`pages` of them, `rows` in all): the cursor of the next one. Call inside their
    transaction.

    Raises:
        PassSupersededError: the run that holds `claim` no longer owns the resource's pass.
    """
    status = await conn.execute(
        """update sync_state set cursor = $3, pass_rows = pass_rows + $4, pass_pages = pass_pages + $6
           where account_id = $1 and resource = $2 and pass_claim = $5 and pass_mode is not null""",
        account_id,
        resource,
        cursor,
        rows,
        claim,
        pages,
    )
    if status.split()[-1] == "0":
        raise PassSupersededError(f"another pass of {resource} began; this one stops")


async def complete_pass(
    conn: Conn,
    account_id: uuid.UUID,
    resource: str,
    *,
    sync_token: str | None,
    rows: int,
    claim: uuid.UUID,
    pages: int = 1,
) -> SyncState:
    """Record the last pages (`pages`, `rows` in all): store the new token and the outcome. Call inside their
    transaction.

    Raises:
        PassSupersededError: the run that holds `claim` no longer owns the resource's pass.
    """
    row = await conn.fetchrow(
        """update sync_state set
             sync_token = $3, cursor = null,
             last_success_at = now(), last_mode = pass_mode, last_rows = pass_rows + $4, last_pages = pass_pages + $6,
             last_duration_ms = (extract(epoch from now() - pass_started_at) * 1000)::bigint,
             pass_mode = null, pass_claim = null, pass_rows = 0, pass_pages = 0, last_error = null,
             last_error_at = null
           where account_id = $1 and resource = $2 and pass_claim = $5 and pass_mode is not null
           returning *""",
        account_id,
        resource,
        sync_token,
        rows,
        claim,
        pages,
    )
    if row is None:
        raise PassSupersededError(f"another pass of {resource} began; this one stops")
    return _state(row)


async def record_error(conn: Conn, account_id: uuid.UUID, resource: str, error: str) -> None:
    """Record why a pass failed; its checkpoint stays, so the next pass resumes from it."""
    await conn.execute(
        """insert into sync_state (account_id, resource, last_error, last_error_at) values ($1, $2, $3, now())
           on conflict (account_id, resource) do update set last_error = $3, last_error_at = now()""",
        account_id,
        resource,
        error[:1000],
    )


async def request_full(conn: Conn, account_id: uuid.UUID, resource: str) -> None:
    """Make the next pass of this resource a full one."""
    await conn.execute(
        """insert into sync_state (account_id, resource, full_requested) values ($1, $2, true)
           on conflict (account_id, resource) do update set full_requested = true""",
        account_id,
        resource,
    )


def _lock_name(account_id: uuid.UUID, resource: str) -> str:
    return f"sync:{account_id}:{resource}"


def pass_lock(pool: Pool, account_id: uuid.UUID, resource: str) -> AbstractAsyncContextManager[bool]:
    """Hold the lock of one (account, resource) for a pass; yields False if another pass holds it."""
    return try_advisory_lock(pool, _lock_name(account_id, resource))


async def pass_running(conn: Conn, account_id: uuid.UUID, resource: str) -> bool:
    """Whether a pass of one (account, resource) runs now, in any process: its lock is held (not taken here)."""
    return await lock_held(conn, _lock_name(account_id, resource))
