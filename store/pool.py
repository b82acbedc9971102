"""The asyncpg pool: typed aliases, creation with clear errors, JSON codecs."""

import asyncio
import socket
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg
import orjson

from store.errors import DatabaseUnavailableError

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

CONNECT_TIMEOUT_S = 10.0


def describe_dsn(dsn: str) -> str:
    """`host:port/dbname` of a DSN, for messages: never the user or password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or '/'}"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


def translate_connect_error(dsn: str, exc: BaseException) -> DatabaseUnavailableError:
    """A one-line, password-free explanation of why `dsn` could not be reached."""
    where = describe_dsn(dsn)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return DatabaseUnavailableError(f"database {where} does not exist: run `ashby-sync db migrate` to create it")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
        return DatabaseUnavailableError(f"Postgres at {where} refused the credentials in DATABASE_URL")
    if isinstance(exc, ValueError | asyncpg.ClientConfigurationError):
        return DatabaseUnavailableError(f"DATABASE_URL is not a valid Postgres URL ({exc})")
    if isinstance(exc, TimeoutError):
        return DatabaseUnavailableError(f"Postgres at {where} did not answer within {CONNECT_TIMEOUT_S:.0f}s")
    return DatabaseUnavailableError(f"cannot connect to Postgres at {where}: {exc.__class__.__name__}: {exc}")


_CONNECT_ERRORS = (OSError, socket.gaierror, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """Open a pool to `dsn`, raising DatabaseUnavailableError with a clear message when it cannot."""
    try:
        pool = await asyncio.wait_for(
            asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection),
            CONNECT_TIMEOUT_S,
        )
    except _CONNECT_ERRORS as exc:
        raise translate_connect_error(dsn, exc) from exc
    assert pool is not None
    return pool


async def connect(dsn: str) -> "asyncpg.Connection[asyncpg.Record]":
    """One connection to `dsn` (for migrations and one-shot commands), with the pool's codecs and errors."""
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except _CONNECT_ERRORS as exc:
        raise translate_connect_error(dsn, exc) from exc
    await _init_connection(conn)
    return conn


async def commit_without_waiting_for_disk(conn: Conn) -> None:
    """Let this transaction's COMMIT return before its WAL reaches disk (`synchronous_commit = off`, local).

    Only for writes that can be redone: a mirror page with its checkpoint, or an applied webhook with its
    inbox status. A crash can lose the last few hundred milliseconds of them, never tear one, and what is lost
    is redone from the durable source (the checkpoint before it, or the inbox row still pending). Writes that
    must be durable when acknowledged (the webhook inbox insert) never use it.
    """
    await conn.execute("set local synchronous_commit = off")
