"""Sync every resource of one account: independent resources concurrently, parents before their children."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
import structlog

from ashby_api.client import AshbyClient
from ashby_api.errors import AshbyError, AshbyForbidden, AshbyUnauthorized
from ashby_api.resources import RESOURCES, Resource
from ashby_api.retry import Retrier
from store import accounts
from store.pool import Pool
from store.request_slots import AccountGate, RequestSlots
from store.secrets import SecretBox
from sync.passes import PassResult, Progress, SyncContext, sync_resource

log = structlog.get_logger(__name__)


class InFlightLimits:
    """A process's in-flight gates, one per account, kept across the clients it builds for that account.

    Each gate counts against the account's cap in every process (`store.request_slots`). A worker reloads an
    account's client now and then (to see new credentials or a new cap) while passes still use the old one: both
    hold the same gate. A changed cap starts a new gate. `aclose()` gives back the connection the slots are held on.
    """

    def __init__(self, pool: Pool) -> None:
        self._slots = RequestSlots(pool)
        self._by_account: dict[uuid.UUID, AccountGate] = {}

    def get(self, account_id: uuid.UUID, cap: int) -> AccountGate:
        found = self._by_account.get(account_id)
        if found is None or found.cap != cap:
            found = self._by_account[account_id] = self._slots.gate(account_id, cap)
        return found

    async def aclose(self) -> None:
        await self._slots.aclose()


async def load_client(
    pool: Pool, session: aiohttp.ClientSession, box: SecretBox, account_id: uuid.UUID, limits: InFlightLimits
) -> AshbyClient:
    """A client for one account, over the process's session, capped at the account's requests in flight (in this
    process through `limits`, in all of them through the slots `limits` holds)."""
    async with pool.acquire() as conn:
        account = await accounts.get_account(conn, account_id)
        creds = await accounts.get_credentials(conn, box, account_id)
    cap = account.max_in_flight
    return AshbyClient(
        session,
        base_url=account.base_url,
        api_key=creds.api_key,
        max_in_flight=cap,
        in_flight=limits.get(account_id, cap),
    )


async def fetch_scopes(client: AshbyClient, retry: Retrier) -> frozenset[str] | None:
    """The scopes the client's key holds (`apiKey.info`); None when Ashby does not tell, and then every resource is
    tried, as if the key could read them all."""
    try:
        info = await retry(client.api_key_info)
    except (AshbyUnauthorized, AshbyForbidden) as exc:  # a key without api_keys:read may not ask
        log.info("api_key_scopes_unknown", error=type(exc).__name__, status=exc.status, code=exc.code)
        return None
    except AshbyError as exc:  # the passes meet the same failure and record it
        log.warning("api_key_scopes_unknown", error=type(exc).__name__, detail=str(exc))
        return None
    return frozenset(info.scopes)


@asynccontextmanager
async def account_context(
    pool: Pool, session: aiohttp.ClientSession, box: SecretBox, account_id: uuid.UUID, retry: Retrier | None = None
) -> AsyncIterator[SyncContext]:
    """The SyncContext of one account: its client (with its in-flight cap) over the process's session, and the
    scopes of its key (one `apiKey.info` call)."""
    limits = InFlightLimits(pool)
    retry = retry or Retrier()
    try:
        client = await load_client(pool, session, box, account_id, limits)
        scopes = await fetch_scopes(client, retry)
        yield SyncContext(pool=pool, client=client, account_id=account_id, retry=retry, scopes=scopes)
    finally:
        await limits.aclose()


def ordered(resources: Sequence[Resource]) -> list[list[Resource]]:
    """Waves of resources: every resource comes after the parent it is listed per."""
    names = {r.name for r in resources}
    first = [r for r in resources if r.parent is None or r.parent not in names]
    later = [r for r in resources if r.parent is not None and r.parent in names]
    return [w for w in (first, later) if w]


async def sync_account(
    ctx: SyncContext,
    resources: Sequence[Resource] = RESOURCES,
    *,
    full: bool = False,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> tuple[list[PassResult], list[tuple[str, BaseException]]]:
    """Run one pass of each resource, `concurrency` at a time; returns the results and the failures.

    A resource the account's key may not read (`ctx.scopes`) is not passed: its result says skipped.
    """
    results: list[PassResult] = []
    failures: list[tuple[str, BaseException]] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(resource: Resource) -> None:
        async with gate:
            try:
                results.append(await sync_resource(ctx, resource, full=full, progress=progress))
            except Exception as exc:  # noqa: BLE001 - one resource failing must not stop the others
                failures.append((resource.name, exc))

    for wave in ordered(resources):
        await asyncio.gather(*(one(r) for r in wave))
    return results, failures
