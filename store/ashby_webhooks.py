"""Webhooks this deployment registered in Ashby (Ashby has no webhook.list), and the end of a secret rotation."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.pool import Conn


@dataclass(frozen=True, slots=True)
class RegisteredWebhook:
    """One Ashby webhook: its id in Ashby, the action type it sends, where, and whether Ashby last said enabled."""

    account_id: uuid.UUID
    id: str
    webhook_type: str
    request_url: str
    enabled: bool
    created_at: datetime


def _webhook(row: asyncpg.Record) -> RegisteredWebhook:
    return RegisteredWebhook(
        account_id=row["account_id"],
        id=row["id"],
        webhook_type=row["webhook_type"],
        request_url=row["request_url"],
        enabled=row["enabled"],
        created_at=row["created_at"],
    )


async def save_webhook(
    conn: Conn, account_id: uuid.UUID, webhook_id: str, *, webhook_type: str, request_url: str, enabled: bool
) -> RegisteredWebhook:
    """Record a webhook Ashby created (or what Ashby now says of it)."""
    row = await conn.fetchrow(
        """insert into ashby_webhooks (account_id, id, webhook_type, request_url, enabled)
           values ($1, $2, $3, $4, $5)
           on conflict (account_id, id) do update
             set webhook_type = excluded.webhook_type, request_url = excluded.request_url, enabled = excluded.enabled
           returning *""",
        account_id,
        webhook_id,
        webhook_type,
        request_url,
        enabled,
    )
    assert row is not None
    return _webhook(row)


async def list_webhooks(conn: Conn, account_id: uuid.UUID | None = None) -> list[RegisteredWebhook]:
    """The webhooks of one account (or of all), by account, type and id."""
    rows = await conn.fetch(
        """select * from ashby_webhooks where $1::uuid is null or account_id = $1
           order by account_id, webhook_type, id""",
        account_id,
    )
    return [_webhook(r) for r in rows]


async def set_enabled(conn: Conn, account_id: uuid.UUID, webhook_id: str, enabled: bool) -> None:
    """Record whether Ashby has the webhook enabled."""
    await conn.execute(
        "update ashby_webhooks set enabled = $3 where account_id = $1 and id = $2", account_id, webhook_id, enabled
    )


async def delete_webhook(conn: Conn, account_id: uuid.UUID, webhook_id: str) -> bool:
    """Forget a webhook; False when it was not recorded."""
    status = await conn.execute("delete from ashby_webhooks where account_id = $1 and id = $2", account_id, webhook_id)
    return status != "DELETE 0"


async def drop_previous_webhook_secret(conn: Conn, account_id: uuid.UUID) -> bool:
    """End a rotation: only the current webhook secret verifies from now on. False when there was no previous one."""
    status = await conn.execute(
        """update accounts set previous_webhook_secret_enc = null, updated_at = now()
           where id = $1 and previous_webhook_secret_enc is not null""",
        account_id,
    )
    return status != "UPDATE 0"
