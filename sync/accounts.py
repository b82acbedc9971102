"""Sync every resource of one account: independent resources concurrently, parents before their children."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
import structlog

from ashby_api.client import AshbyClient
from ashby_api.resources import RESOURCES, Resource
from ashby_api.retry import Retrier
from store import accounts
from store.pool import Pool
from store.secrets import SecretBox
from sync.passes import PassResult, Progress, SyncContext, sync_resource

log = structlog.get_logger(__name__)


class InFlightLimits:
    """One in-flight semaphore per account for a process, kept across the clients it builds for that account.

    A worker reloads an account's client now and then (to see new credentials or a new cap) while passes still use
    the old one: both count against the same cap. A changed cap starts a new semaphore.
    """

    def __init__(self) -> None:
        self._by_account: dict[uuid.UUID, tuple[int, asyncio.Semaphore]] = {}

    def get(self, account_id: uuid.UUID, cap: int) -> asyncio.Semaphore:
        found = self._by_account.get(account_id)
        if found is None or found[0] != cap:
            found = self._by_account[account_id] = (cap, asyncio.Semaphore(cap))
        return found[1]


async def load_client(
    pool: Pool,
    session: aiohttp.ClientSession,
    box: SecretBox,
    account_id: uuid.UUID,
    limits: InFlightLimits | None = None,
) -> AshbyClient:
    """A client for one account, over the process's session, capped at the account's requests in flight (shared
    with the account's other clients through `limits`)."""
    async with pool.acquire() as conn:
        account = await accounts.get_account(conn, account_id)
        creds = await accounts.get_credentials(conn, box, account_id)
    cap = account.max_in_flight
    in_flight = limits.get(account_id, cap) if limits is not None else None
    return AshbyClient(
        session, base_url=account.base_url, api_key=creds.api_key, max_in_flight=cap, in_flight=in_flight
    )


@asynccontextmanager
async def account_context(
    pool: Pool, session: aiohttp.ClientSession, box: SecretBox, account_id: uuid.UUID, retry: Retrier | None = None
) -> AsyncIterator[SyncContext]:
    """The SyncContext of one account: its client (with its in-flight cap) over the process's session."""
    client = await load_client(pool, session, box, account_id)
    yield SyncContext(pool=pool, client=client, account_id=account_id, retry=retry or Retrier())


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
    """Run one pass of each resource, `concurrency` at a time; returns the results and the failures."""
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
