"""Connected Ashby orgs: their names, endpoints and encrypted credentials."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pydantic import SecretStr

from store.errors import AccountExistsError, AccountNotFoundError
from store.pool import Conn
from store.secrets import SecretBox


@dataclass(frozen=True, slots=True)
class Account:
    """A connected Ashby org, without its secrets."""

    id: uuid.UUID
    name: str
    base_url: str
    max_in_flight: int
    has_webhook_secret: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's decrypted secrets; they stay SecretStr until the line that uses them."""

    api_key: SecretStr
    webhook_secrets: tuple[SecretStr, ...]  # current first, then the previous one during a rotation


_COLUMNS = "id, name, base_url, max_in_flight, webhook_secret_enc is not null as has_webhook_secret, created_at"


def _account(row: asyncpg.Record) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        base_url=row["base_url"],
        max_in_flight=row["max_in_flight"],
        has_webhook_secret=row["has_webhook_secret"],
        created_at=row["created_at"],
    )


async def add_account(
    conn: Conn,
    box: SecretBox,
    *,
    name: str,
    api_key: SecretStr,
    base_url: str,
    webhook_secret: SecretStr | None = None,
    max_in_flight: int = 4,
) -> Account:
    """Store a new account with its secrets encrypted; AccountExistsError when the name is taken."""
    try:
        row = await conn.fetchrow(
            f"""insert into accounts (name, base_url, api_key_enc, webhook_secret_enc, max_in_flight)
                values ($1, $2, $3, $4, $5) returning {_COLUMNS}""",
            name,
            base_url.rstrip("/"),
            box.encrypt(api_key),
            box.encrypt(webhook_secret) if webhook_secret is not None else None,
            max_in_flight,
        )
    except asyncpg.UniqueViolationError as exc:
        raise AccountExistsError(f"an account named {name!r} exists already") from exc
    assert row is not None
    return _account(row)


async def list_accounts(conn: Conn) -> list[Account]:
    """Every account, by name."""
    return [_account(r) for r in await conn.fetch(f"select {_COLUMNS} from accounts order by name")]


async def get_account(conn: Conn, ref: str | uuid.UUID) -> Account:
    """The account named `ref`, or whose id is `ref`; AccountNotFoundError otherwise."""
    account_id: uuid.UUID | None = None
    if isinstance(ref, uuid.UUID):
        account_id = ref
    else:
        try:
            account_id = uuid.UUID(ref)
        except ValueError:
            account_id = None
    row = await conn.fetchrow(f"select {_COLUMNS} from accounts where name = $1 or id = $2", str(ref), account_id)
    if row is None:
        raise AccountNotFoundError(f"no account named {str(ref)!r} (see `ashby-sync accounts list`)")
    return _account(row)


async def get_credentials(conn: Conn, box: SecretBox, account_id: uuid.UUID) -> Credentials:
    """The decrypted API key and webhook secrets of an account."""
    row = await conn.fetchrow(
        "select api_key_enc, webhook_secret_enc, previous_webhook_secret_enc from accounts where id = $1",
        account_id,
    )
    if row is None:
        raise AccountNotFoundError(f"no account with id {account_id}")
    secrets = tuple(
        box.decrypt(row[c]) for c in ("webhook_secret_enc", "previous_webhook_secret_enc") if row[c] is not None
    )
    return Credentials(api_key=box.decrypt(row["api_key_enc"]), webhook_secrets=secrets)


async def set_webhook_secret(conn: Conn, box: SecretBox, account_id: uuid.UUID, secret: SecretStr) -> None:
    """Make `secret` current and keep the old current one as previous, so both verify during a rotation."""
    await conn.execute(
        """update accounts set previous_webhook_secret_enc = webhook_secret_enc, webhook_secret_enc = $2,
           updated_at = now() where id = $1""",
        account_id,
        box.encrypt(secret),
    )


async def remove_account(conn: Conn, ref: str | uuid.UUID) -> Account:
    """Delete an account and everything mirrored for it; AccountNotFoundError when there is none."""
    account = await get_account(conn, ref)
    await conn.execute("delete from accounts where id = $1", account.id)
    return account
