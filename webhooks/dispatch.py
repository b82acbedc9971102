"""Queue the drain jobs of newly stored events: at most one waiting per account, one Redis round trip per batch.

A drain job applies every pending event of its account in batched transactions, so a burst of webhooks costs
the worker a job per burst rather than a job per event (see `core.queue` for the flag that keeps one queued, and
why a batch stored just after a call needs no call of its own: under load most batches skip Redis).
arq's `enqueue_job` (what `core.queue.enqueue` calls) costs three round trips and ~0.4 ms of client CPU per job
and cannot test-and-set the flag; this writes what arq writes (`arq:job:<id>` holding the pickled job, the id in
the queue's sorted set scored by enqueue time) in the same Lua call that sets the flag. The job's name, arguments,
id and flag come from `core.queue`, the contract with the worker; tests run the jobs with a real arq worker.
"""

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Sequence
from typing import cast

import redis.exceptions
import structlog
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import serialize_job

from core.queue import (
    DRAIN_COVERED_S,
    DRAIN_FLAG_TTL_MS,
    QUEUE_NAME,
    JobName,
    drain_flag_key,
    drain_job_id,
    drain_seq_key,
)
from webhooks.metrics import ReceiverMetrics

log = structlog.get_logger(__name__)

REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError, TimeoutError)
MAX_COVERED = 10_000  # accounts remembered before the expired ones are dropped
ENQUEUE_TIMEOUT_S = 1.0  # Redis only dispatches: a slow Redis must not hold answers (the sweeper re-enqueues)

# One call for a batch. KEYS[1]: the queue. ARGV: job expiry ms, score (enqueue time ms), flag expiry ms, then per
# account its flag key, its sequence key, its job id prefix and its serialized job. Returns per account 1 when a
# job was queued now, 0 when one was queued already (its flag is set). The keys are built here rather than passed
# as KEYS: arq runs on one Redis, never a cluster.
_ENQUEUE = """
local queued = {}
for i = 4, #ARGV, 4 do
  if redis.call('set', ARGV[i], '1', 'NX', 'PX', ARGV[3]) then
    local id = ARGV[i + 2] .. redis.call('incr', ARGV[i + 1])
    redis.call('psetex', 'JOB_PREFIX' .. id, ARGV[1], ARGV[i + 3])
    redis.call('zadd', KEYS[1], ARGV[2], id)
    queued[#queued + 1] = 1
  else
    queued[#queued + 1] = 0
  end
end
return queued
""".replace("JOB_PREFIX", job_key_prefix)
_ENQUEUE_SHA = hashlib.sha1(_ENQUEUE.encode()).hexdigest()


class JobDispatcher:
    """Queues `drain_webhooks` jobs on the worker's queue (arq's format), one Redis call per batch."""

    def __init__(
        self,
        queue: ArqRedis,
        metrics: ReceiverMetrics,
        *,
        timeout_s: float = ENQUEUE_TIMEOUT_S,
        covered_s: float = DRAIN_COVERED_S,
    ) -> None:
        # One connection of the queue's pool, kept: a check-out and check-in per call cost as much CPU as the call.
        self._redis = ArqRedis(queue.connection_pool, single_connection_client=True)
        self._expires_ms = queue.expires_extra_ms
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._covered_s = covered_s
        self._covered_until: dict[uuid.UUID, float] = {}  # loop time until which an account's drain is assured

    async def aclose(self) -> None:
        """Give the connection back to the queue's pool."""
        await self._redis.aclose()

    async def enqueue_drains(self, account_ids: Sequence[uuid.UUID]) -> bool:
        """Make sure a `drain_webhooks(account_id)` job waits for each account (events committed before this call).

        True when every account has one (queued now, or queued before and not yet draining); False when Redis
        failed (the events stay pending in Postgres and the worker's inbox sweeper queues them).
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        # An account whose flag a call of ours found or set less than DRAIN_COVERED_S ago needs no call: the drain
        # that clears that flag reads the inbox after this batch's commit (see `core.queue`).
        accounts = [a for a in dict.fromkeys(account_ids) if self._covered_until.get(a, 0.0) <= now]
        if not accounts:
            return True
        sent_at = loop.time()
        self._metrics.enqueue_calls.inc()
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    results = await self._send(accounts)
                except redis.exceptions.NoScriptError:  # a fresh or flushed Redis: load the script once, again
                    await self._redis.script_load(_ENQUEUE)
                    results = await self._send(accounts)
        except REDIS_UNAVAILABLE as exc:
            self._metrics.enqueue_failures.inc(len(accounts))
            log.warning("webhook_enqueue_failed", accounts=len(accounts), error=exc.__class__.__name__)
            return False
        if len(self._covered_until) > MAX_COVERED:
            self._covered_until = {a: t for a, t in self._covered_until.items() if t > now}
        for account_id in accounts:
            self._covered_until[account_id] = sent_at + self._covered_s
        self._metrics.enqueued.inc(sum(results))
        return True

    async def _send(self, accounts: Sequence[uuid.UUID]) -> list[int]:
        # EVALSHA, not redis-py's Script helper (which asks SCRIPT EXISTS first): one round trip per batch.
        now_ms = round(time.time() * 1000)
        argv: list[str | bytes] = [str(self._expires_ms), str(now_ms), str(DRAIN_FLAG_TTL_MS)]
        for account_id in accounts:
            argv += [drain_flag_key(account_id), drain_seq_key(account_id), drain_job_id(account_id, "")]
            argv.append(serialize_job(JobName.DRAIN_WEBHOOKS.value, (str(account_id),), {}, None, now_ms))
        reply = self._redis.evalsha(_ENQUEUE_SHA, 1, QUEUE_NAME, *argv)  # type: ignore[arg-type]  # bytes go as-is
        return await cast("Awaitable[list[int]]", reply)  # the stub unions the sync client's return type
