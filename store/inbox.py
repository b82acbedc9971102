"""The webhook inbox: raw Ashby deliveries, committed before the receiver answers, applied later by the worker."""

import uuid
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.locks import try_advisory_lock
from store.pool import Conn, Pool

PENDING, APPLIED, SKIPPED, FAILED, REJECTED = "pending", "applied", "skipped", "failed", "rejected"


@dataclass(frozen=True, slots=True)
class InboxKey:
    """An event's identity (DESIGN.md invariant 4): retries and replays share it."""

    account_id: uuid.UUID
    webhook_action_id: str
    action: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A delivery to record: `status` is `pending` (to apply), `skipped` (ping, unknown action) or `rejected`."""

    key: InboxKey
    body: bytes
    status: str = PENDING


@dataclass(frozen=True, slots=True)
class InboxEvent:
    key: InboxKey
    body: bytes
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime
    applied_at: datetime | None


def _event(row: asyncpg.Record) -> InboxEvent:
    return InboxEvent(
        key=InboxKey(row["account_id"], row["webhook_action_id"], row["action"]),
        body=row["body"],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        received_at=row["received_at"],
        applied_at=row["applied_at"],
    )


async def insert_events(conn: Conn, events: Sequence[NewEvent]) -> list[bool]:
    """Record deliveries in one statement; for each, True when it is new, False for a duplicate or replay."""
    if not events:
        return []
    rows = await conn.fetch(
        """insert into webhook_inbox (account_id, webhook_action_id, action, body, status)
           select * from unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[])
           on conflict (account_id, webhook_action_id, action) do nothing
           returning account_id, webhook_action_id, action""",
        [e.key.account_id for e in events],
        [e.key.webhook_action_id for e in events],
        [e.key.action for e in events],
        [e.body for e in events],
        [e.status for e in events],
    )
    new = {(r["account_id"], r["webhook_action_id"], r["action"]) for r in rows}
    out: list[bool] = []
    for e in events:  # the same event twice in one batch: only its first occurrence is new
        k = (e.key.account_id, e.key.webhook_action_id, e.key.action)
        out.append(k in new)
        new.discard(k)
    return out


async def get_event(conn: Conn, key: InboxKey) -> InboxEvent | None:
    row = await conn.fetchrow(
        "select * from webhook_inbox where account_id = $1 and webhook_action_id = $2 and action = $3",
        key.account_id,
        key.webhook_action_id,
        key.action,
    )
    return _event(row) if row is not None else None


async def lock_pending(conn: Conn, key: InboxKey) -> InboxEvent | None:
    """The event if it still needs applying, locked for this transaction (a concurrent apply waits, then skips)."""
    row = await conn.fetchrow(
        """select * from webhook_inbox where account_id = $1 and webhook_action_id = $2 and action = $3
           and status in ('pending', 'failed') for update""",
        key.account_id,
        key.webhook_action_id,
        key.action,
    )
    return _event(row) if row is not None else None


async def mark_done(conn: Conn, key: InboxKey, status: str = APPLIED) -> None:
    """Record that the event was applied (or deliberately skipped)."""
    await conn.execute(
        """update webhook_inbox set status = $4, applied_at = now(), attempts = attempts + 1, last_error = null
           where account_id = $1 and webhook_action_id = $2 and action = $3""",
        key.account_id,
        key.webhook_action_id,
        key.action,
        status,
    )


async def mark_failed(conn: Conn, key: InboxKey, error: str, *, final: bool) -> None:
    """Record a failed apply; `final` leaves it `failed` (shown by `status`), else it stays pending for a retry."""
    await conn.execute(
        """update webhook_inbox set status = case when $5 then 'failed' else 'pending' end,
           attempts = attempts + 1, last_error = $4
           where account_id = $1 and webhook_action_id = $2 and action = $3""",
        key.account_id,
        key.webhook_action_id,
        key.action,
        error[:1000],
        final,
    )


async def list_stranded(conn: Conn, *, older_than_s: float, limit: int = 1000) -> list[InboxKey]:
    """Pending events tried before and received more than `older_than_s` ago: their own job was lost or never ran.

    Events never tried belong to their account's drain: see `stranded_accounts`.
    """
    rows = await conn.fetch(
        """select account_id, webhook_action_id, action from webhook_inbox
           where status = 'pending' and attempts > 0 and received_at < now() - make_interval(secs => $1)
           order by received_at limit $2""",
        older_than_s,
        limit,
    )
    return [InboxKey(r["account_id"], r["webhook_action_id"], r["action"]) for r in rows]


async def stranded_accounts(conn: Conn, *, older_than_s: float) -> list[uuid.UUID]:
    """Accounts with a pending event never tried and received more than `older_than_s` ago: their drain was lost."""
    rows = await conn.fetch(
        """select distinct account_id from webhook_inbox
           where status = 'pending' and attempts = 0 and received_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    return sorted(r["account_id"] for r in rows)


async def backlog(conn: Conn) -> dict[uuid.UUID, tuple[int, int]]:
    """Per account: (pending, failed) events."""
    rows = await conn.fetch(
        """select account_id, count(*) filter (where status = 'pending') as pending,
                  count(*) filter (where status = 'failed') as failed
           from webhook_inbox group by account_id"""
    )
    return {r["account_id"]: (r["pending"], r["failed"]) for r in rows}


async def status_counts(conn: Conn, account_id: uuid.UUID) -> dict[str, int]:
    """An account's inbox events by status (`pending`, `applied`, `skipped`, `failed`, `rejected`)."""
    rows = await conn.fetch(
        "select status, count(*) as n from webhook_inbox where account_id = $1 group by status", account_id
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def count_pending(conn: Conn) -> int:
    """Pending events over all accounts (a scan of the partial index `webhook_inbox_pending`, not of the table)."""
    count = await conn.fetchval("select count(*) from webhook_inbox where status = 'pending'")
    return int(count)


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """An event the worker gave up on: what `ashby-sync status` shows (never its body)."""

    key: InboxKey
    attempts: int
    last_error: str | None
    received_at: datetime


async def list_failed(conn: Conn, account_id: uuid.UUID | None = None, *, limit: int = 20) -> list[FailedEvent]:
    """The most recent failed events (of one account, or all), newest first."""
    rows = await conn.fetch(
        """select account_id, webhook_action_id, action, attempts, last_error, received_at from webhook_inbox
           where status = 'failed' and ($1::uuid is null or account_id = $1)
           order by received_at desc limit $2""",
        account_id,
        limit,
    )
    return [
        FailedEvent(
            InboxKey(r["account_id"], r["webhook_action_id"], r["action"]),
            r["attempts"],
            r["last_error"],
            r["received_at"],
        )
        for r in rows
    ]


async def probe(conn: Conn) -> None:
    """Raise unless Postgres answers and the inbox table exists (the receiver's readiness check)."""
    await conn.execute("select 1 from webhook_inbox limit 0")


async def list_pending_events(
    conn: Conn, account_id: uuid.UUID, *, limit: int = 100, skip: Collection[InboxKey] = ()
) -> list[InboxEvent]:
    """An account's pending events never tried yet, oldest first (what a drain applies next), but those in `skip`.

    An event whose apply failed once belongs to its own job from then on, which retries it with backoff. `skip`
    holds the events a drain has handed to such jobs but that are still pending: however many, they never hide
    the events behind them.
    """
    rows = await conn.fetch(
        """select * from webhook_inbox where account_id = $1 and status = 'pending' and attempts = 0
             and (webhook_action_id, action) not in (select * from unnest($3::text[], $4::text[]))
           order by received_at limit $2""",
        account_id,
        limit,
        [k.webhook_action_id for k in skip],
        [k.action for k in skip],
    )
    return [_event(r) for r in rows]


async def lock_pending_batch(conn: Conn, keys: Sequence[InboxKey]) -> set[InboxKey]:
    """Lock those of `keys` still pending and not locked by another transaction; returns the ones locked."""
    if not keys:
        return set()
    rows = await conn.fetch(
        """select i.account_id, i.webhook_action_id, i.action from webhook_inbox i
           join unnest($1::uuid[], $2::text[], $3::text[]) as k(account_id, webhook_action_id, action)
             using (account_id, webhook_action_id, action)
           where i.status = 'pending'
           for update of i skip locked""",
        [k.account_id for k in keys],
        [k.webhook_action_id for k in keys],
        [k.action for k in keys],
    )
    return {InboxKey(r["account_id"], r["webhook_action_id"], r["action"]) for r in rows}


def drain_lock(pool: Pool, account_id: uuid.UUID, *, wait_s: float = 0.0) -> AbstractAsyncContextManager[bool]:
    """Hold the account's inbox-drain lock; yields False when another worker drained it for all of `wait_s`."""
    return try_advisory_lock(pool, f"inbox:{account_id}", wait_s=wait_s)
