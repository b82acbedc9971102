"""What jobs share within one worker process, read from arq's untyped ctx only here."""

import functools
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiohttp
from structlog.contextvars import bound_contextvars

from ashby_api.client import AshbyClient
from ashby_api.retry import Retrier, RetryPolicy
from core.config import Settings
from core.queue import JobQueue
from store.pool import Pool
from store.secrets import SecretBox
from sync.accounts import InFlightLimits, fetch_scopes, load_client
from sync.passes import SyncContext

Ctx = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")
Job = Callable[Concatenate[Ctx, P], Coroutine[Any, Any, R]]

CLIENT_TTL_S = 300.0  # credentials or caps changed with `accounts` reach a running worker within this
ONE_TRY = Retrier(policy=RetryPolicy(max_attempts=1))


@dataclass(slots=True)
class Deps:
    """The worker process's pool, HTTP session and per-account clients."""

    settings: Settings
    pool: Pool
    session: aiohttp.ClientSession
    box: SecretBox
    queue: JobQueue
    retry: Retrier = field(default_factory=Retrier)
    client_ttl_s: float = CLIENT_TTL_S
    # per account: its client, its key's scopes (None: unknown, every resource is tried), when they were loaded
    _clients: dict[uuid.UUID, tuple[AshbyClient, frozenset[str] | None, float]] = field(default_factory=dict)
    _limits: InFlightLimits | None = None

    async def sync_context(self, account_id: uuid.UUID) -> SyncContext:
        """The account's SyncContext; its clients, old and reloaded, share one cap for every job of this process.

        The key's scopes are asked for when the client is (re)loaded, once, without retries: a job (a webhook's, say)
        never waits on Ashby for them, and unknown scopes only mean every resource is tried."""
        cached = self._clients.get(account_id)
        if cached is None or time.monotonic() - cached[2] > self.client_ttl_s:
            if self._limits is None:
                self._limits = InFlightLimits(self.pool)
            client = await load_client(self.pool, self.session, self.box, account_id, self._limits)
            scopes = await fetch_scopes(client, ONE_TRY)
            cached = (client, scopes, time.monotonic())
            self._clients[account_id] = cached
        client, scopes, _ = cached
        return SyncContext(pool=self.pool, client=client, account_id=account_id, retry=self.retry, scopes=scopes)

    async def aclose(self) -> None:
        """Give back what the accounts' in-flight caps hold in Postgres (before the pool closes)."""
        if self._limits is not None:
            await self._limits.aclose()


def deps(ctx: Ctx) -> Deps:
    """The Deps that `on_startup` put in arq's ctx."""
    value = ctx["deps"]
    assert isinstance(value, Deps)
    return value


def job(fn: Job[P, R]) -> Job[P, R]:
    """Run a job with its name, id and try bound to every log line it writes."""

    @functools.wraps(fn)  # keeps __qualname__, which arq uses as the job's name
    async def run(ctx: Ctx, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with bound_contextvars(job=fn.__name__, job_id=ctx.get("job_id"), job_try=ctx.get("job_try")):
            return await fn(ctx, *args, **kwargs)

    return run
