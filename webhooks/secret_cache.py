"""Accounts' webhook secrets, cached in-process for a few seconds.

Without it every delivery costs a Postgres round trip and a Fernet decrypt. A rotation
(`store.accounts.set_webhook_secret`) is seen within the TTL, and at once where it matters: before a delivery
is refused, its signature is checked again against secrets read after it arrived (Ashby never retries a 401,
so a stale cache must not cost an event, nor the ping that enables a re-keyed webhook).
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from pydantic import SecretStr

from store.accounts import get_credentials
from store.errors import AccountNotFoundError, DatabaseUnavailableError
from store.pool import Pool
from store.secrets import SecretBox
from webhooks.inbox_writer import POSTGRES_UNAVAILABLE

log = structlog.get_logger(__name__)

UNKNOWN_TTL_S = 1.0  # an unknown account is looked up again after this long (it may just have been added)
MAX_ENTRIES = 50_000  # past this, expired entries are dropped (random account ids must not grow memory)


@dataclass(frozen=True, slots=True)
class AccountSecrets:
    """What the receiver knows of an account: whether it exists, its webhook secrets (current first).

    `loaded_at` is when the read began (`SecretCache.now()`): the secrets are at least that fresh.
    """

    exists: bool
    secrets: tuple[SecretStr, ...]
    loaded_at: float


@dataclass(frozen=True, slots=True)
class _Load:
    started_at: float
    future: "asyncio.Future[AccountSecrets]"


class SecretCache:
    """Reads an account's secrets at most once per TTL; concurrent readers share one read."""

    def __init__(
        self,
        pool: Pool,
        box: SecretBox,
        *,
        ttl_s: float = 5.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._box = box
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self.now = clock
        self._entries: dict[uuid.UUID, AccountSecrets] = {}
        self._loading: dict[uuid.UUID, _Load] = {}

    async def get(self, account_id: uuid.UUID) -> AccountSecrets:
        """The account's secrets, from the cache while fresh.

        Raises:
            DatabaseUnavailableError: Postgres could not be asked.
            SecretKeyError: the stored secrets do not decrypt with ASHBY_SYNC_SECRET_KEY.
        """
        entry = self._entries.get(account_id)
        if entry is not None:
            ttl = self._ttl_s if entry.exists else min(self._ttl_s, UNKNOWN_TTL_S)
            if self.now() - entry.loaded_at < ttl:
                return entry
        return await self._load(account_id, since=float("-inf"))

    async def get_since(self, account_id: uuid.UUID, since: float) -> AccountSecrets:
        """The account's secrets as read at or after `since` (e.g. a request's arrival); raises like `get`."""
        entry = self._entries.get(account_id)
        if entry is not None and entry.loaded_at >= since:
            return entry
        return await self._load(account_id, since=since)

    async def _load(self, account_id: uuid.UUID, *, since: float) -> AccountSecrets:
        pending = self._loading.get(account_id)
        if pending is not None and pending.started_at >= since:
            return await asyncio.shield(pending.future)
        load = _Load(self.now(), asyncio.get_running_loop().create_future())
        self._loading[account_id] = load  # an older load still answers its own waiters
        try:
            entry = await self._fetch(account_id, load.started_at)
        except asyncio.CancelledError:
            # Its request went away: the others sharing this read answer 503 and Ashby retries them.
            self._fail(load.future, DatabaseUnavailableError("account lookup interrupted"))
            raise
        except Exception as exc:
            self._fail(load.future, exc)
            raise
        finally:
            if self._loading.get(account_id) is load:
                del self._loading[account_id]
        load.future.set_result(entry)
        self._remember(account_id, entry)
        return entry

    @staticmethod
    def _fail(future: "asyncio.Future[AccountSecrets]", exc: BaseException) -> None:
        future.set_exception(exc)
        future.exception()  # marks it retrieved: requests sharing the read get it; none waiting is fine too

    async def _fetch(self, account_id: uuid.UUID, started_at: float) -> AccountSecrets:
        try:
            async with asyncio.timeout(self._timeout_s), self._pool.acquire() as conn:
                credentials = await get_credentials(conn, self._box, account_id)
        except AccountNotFoundError:
            return AccountSecrets(exists=False, secrets=(), loaded_at=started_at)
        except POSTGRES_UNAVAILABLE as exc:
            raise DatabaseUnavailableError(f"account lookup failed: {exc.__class__.__name__}") from exc
        return AccountSecrets(exists=True, secrets=credentials.webhook_secrets, loaded_at=started_at)

    def _remember(self, account_id: uuid.UUID, entry: AccountSecrets) -> None:
        current = self._entries.get(account_id)
        if current is not None and current.loaded_at > entry.loaded_at:
            return  # a read that began later finished first
        if current is None and len(self._entries) >= MAX_ENTRIES:
            now = self.now()
            self._entries = {k: e for k, e in self._entries.items() if now - e.loaded_at < self._ttl_s}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
        self._entries[account_id] = entry
