"""Apply schema.sql idempotently, creating the target database first when it is missing."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from store.errors import DatabaseUnavailableError
from store.pool import connect, describe_dsn

log = structlog.get_logger(__name__)

# Serialises concurrent migrations (two processes starting at once).
_MIGRATION_LOCK = 0x4153_4859_5359_4E43  # "ASHYSYNC"


def schema_path() -> Path:
    """schema.sql: beside the packages in a checkout, inside ashby_sync/ in an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    for candidate in (root / "schema.sql", root / "ashby_sync" / "schema.sql"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("schema.sql not found beside the installed packages")


def _database_name(dsn: str) -> str:
    name = urlsplit(dsn).path.lstrip("/")
    if not name:
        raise DatabaseUnavailableError("DATABASE_URL names no database (expected postgresql://host/dbname)")
    return name


def _maintenance_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))


async def create_database_if_missing(dsn: str) -> bool:
    """Create the database `dsn` names when it does not exist; True when it was created."""
    name = _database_name(dsn)
    try:
        conn = await connect(dsn)
    except DatabaseUnavailableError as exc:
        if not isinstance(exc.__cause__, asyncpg.InvalidCatalogNameError):
            raise
    else:
        await conn.close()
        return False
    admin = await connect(_maintenance_dsn(dsn))
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await admin.execute(f"create database {quoted}")
    except asyncpg.DuplicateDatabaseError:
        return False
    except asyncpg.InsufficientPrivilegeError as exc:
        raise DatabaseUnavailableError(
            f"database {describe_dsn(dsn)} does not exist and this role may not create it"
        ) from exc
    finally:
        await admin.close()
    log.info("database_created", database=name)
    return True


async def migrate(dsn: str) -> int:
    """Create the database if needed and apply schema.sql; returns the schema version now in place."""
    await create_database_if_missing(dsn)
    sql = schema_path().read_text()
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(sql)
        version = await conn.fetchval("select max(version) from schema_version")
    finally:
        await conn.close()
    log.info("schema_migrated", version=version)
    return int(version)
