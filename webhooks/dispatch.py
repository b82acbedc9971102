"""Queue the apply jobs of many stored events in one Redis round trip.

arq's `enqueue_job` (what `core.queue.enqueue` calls) costs three round trips and ~0.4 ms of client CPU per job;
at thousands of webhooks a second that is the receiver's whole budget. This writes what arq writes
(`arq:job:<id>` holding the pickled job, the id in the queue's sorted set scored by enqueue time) under arq's
rule (nothing when a job or result with that id exists), for a whole batch in one Lua call. The job's name,
arguments and id come from `core.queue`, the contract with the worker; tests run the jobs with a real arq worker.
"""

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Sequence
from typing import cast

import redis.exceptions
import structlog
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job

from core.queue import QUEUE_NAME, JobName, webhook_job_id
from store.inbox import InboxKey
from webhooks.metrics import ReceiverMetrics

log = structlog.get_logger(__name__)

REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError, TimeoutError)
ENQUEUE_TIMEOUT_S = 1.0  # Redis only dispatches: a slow Redis must not hold answers (the sweeper re-enqueues)

# One call queues a whole batch. KEYS[1]: the queue. ARGV: expiry ms, score (enqueue time ms), then a job id and
# its serialized job per job. Returns 1 per job queued, 0 where a job or result with that id exists (arq's rule).
# The job keys are built here rather than passed as KEYS: arq runs on one Redis, never a cluster.
_ENQUEUE = """
local queued = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local job_key = 'JOB_PREFIX' .. id
  if redis.call('exists', job_key, 'RESULT_PREFIX' .. id) == 0 then
    redis.call('psetex', job_key, ARGV[1], ARGV[i + 1])
    redis.call('zadd', KEYS[1], ARGV[2], id)
    queued[#queued + 1] = 1
  else
    queued[#queued + 1] = 0
  end
end
return queued
""".replace("JOB_PREFIX", job_key_prefix).replace("RESULT_PREFIX", result_key_prefix)
_ENQUEUE_SHA = hashlib.sha1(_ENQUEUE.encode()).hexdigest()


class JobDispatcher:
    """Enqueues `apply_webhook` jobs on the worker's queue (arq's format), a batch per call."""

    def __init__(self, queue: ArqRedis, metrics: ReceiverMetrics, *, timeout_s: float = ENQUEUE_TIMEOUT_S) -> None:
        # One connection of the queue's pool, kept: a check-out and check-in per call cost as much CPU as the call.
        self._redis = ArqRedis(queue.connection_pool, single_connection_client=True)
        self._expires_ms = queue.expires_extra_ms
        self._metrics = metrics
        self._timeout_s = timeout_s

    async def aclose(self) -> None:
        """Give the connection back to the queue's pool."""
        await self._redis.aclose()

    async def enqueue_apply(self, keys: Sequence[InboxKey]) -> list[bool]:
        """Queue `apply_webhook(account_id, webhook_action_id, action)` per key, under `webhook_job_id`.

        True where a job was queued now; False where one with that id exists, or for all when Redis failed
        (the events stay pending in Postgres and the worker's sweeper queues them).
        """
        if not keys:
            return []
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    results = await self._send(keys)
                except redis.exceptions.NoScriptError:  # a fresh or flushed Redis: load the script once, again
                    await self._redis.script_load(_ENQUEUE)
                    results = await self._send(keys)
        except REDIS_UNAVAILABLE as exc:
            self._metrics.enqueue_failures.inc(len(keys))
            log.warning("webhook_enqueue_failed", events=len(keys), error=exc.__class__.__name__)
            return [False] * len(keys)
        queued = [bool(r) for r in results]
        self._metrics.enqueued.inc(sum(queued))
        return queued

    async def _send(self, keys: Sequence[InboxKey]) -> list[int]:
        # EVALSHA, not redis-py's Script helper (which asks SCRIPT EXISTS first): one round trip per batch.
        now_ms = round(time.time() * 1000)
        argv: list[str | bytes] = [str(self._expires_ms), str(now_ms)]
        for key in keys:
            args = (str(key.account_id), key.webhook_action_id, key.action)
            argv.append(webhook_job_id(key.account_id, key.webhook_action_id, key.action))
            argv.append(serialize_job(JobName.APPLY_WEBHOOK.value, args, {}, None, now_ms))
        reply = self._redis.evalsha(_ENQUEUE_SHA, 1, QUEUE_NAME, *argv)  # type: ignore[arg-type]  # bytes go as-is
        return await cast("Awaitable[list[int]]", reply)  # the stub unions the sync client's return type
