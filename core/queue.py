"""The one contract between the processes that enqueue jobs and the worker that runs them."""

import uuid
from enum import StrEnum
from typing import Any, Protocol

QUEUE_NAME = "ashby:queue"


class JobName(StrEnum):
    """Every job the worker runs; a job's name is its function's name."""

    SYNC_PASS = "sync_pass"
    FULL_RESYNC = "full_resync"
    APPLY_WEBHOOK = "apply_webhook"
    DRAIN_WEBHOOKS = "drain_webhooks"


class JobQueue(Protocol):
    """What enqueueing needs of arq's Redis pool (kept structural so core imports no queue library)."""

    async def enqueue_job(self, function: str, *args: Any, _job_id: str | None = None, **kwargs: Any) -> Any: ...

    def delete(self, *names: str) -> Any: ...  # redis-py types it as Awaitable | Any


def sync_job_id(account_id: uuid.UUID | str, resource: str, *, full: bool = False) -> str:
    """The deduping job id of a pass: one queued pass per (account, resource, kind) at a time."""
    kind = "full" if full else "sync"
    return f"ashby:{kind}:{account_id}:{resource}"


async def enqueue(queue: JobQueue, job: JobName, *args: str, job_id: str) -> bool:
    """Enqueue `job(*args)` under `job_id`; False when a job with that id is already queued or running."""
    return await queue.enqueue_job(job.value, *args, _job_id=job_id) is not None


def webhook_job_id(account_id: uuid.UUID | str, webhook_action_id: str, action: str) -> str:
    """The deduping job id of applying one stored webhook event."""
    return f"ashby:webhook:{account_id}:{webhook_action_id}:{action}"


# Draining an account's inbox: at most one drain job per account waits in the queue. Whoever queues one first sets
# the account's flag (SET NX with an expiry, in the same Redis call); the job clears it once it holds the account's
# drain lock, before it reads the pending events. An event committed before a queuer found the flag set is then
# read by the job that set it; one committed after the flag was cleared queues a job of its own.
#
# Once it has cleared the flag a drain keeps reading the inbox for at least DRAIN_LINGER_S (longer while events
# keep coming). So a queuer whose call found or set the flag at time T needs no call for events it commits before
# T + DRAIN_COVERED_S: the drain that clears that flag (after T) reads the inbox again after they are committed.
# T is taken when the call is sent, before Redis runs it, and DRAIN_COVERED_S leaves half the linger as margin.
DRAIN_FLAG_TTL_MS = 60_000  # a flag whose job was lost frees itself; the inbox sweeper covers the gap
DRAIN_LINGER_S = 0.1
DRAIN_COVERED_S = DRAIN_LINGER_S / 2


def drain_flag_key(account_id: uuid.UUID | str) -> str:
    """The Redis key that says a drain job of the account is queued and has not started draining."""
    return f"ashby:drain-queued:{account_id}"


def drain_job_id(account_id: uuid.UUID | str, seq: int | str) -> str:
    """The id of one drain job of the account (`seq` orders them: drains never share an id)."""
    return f"ashby:drain:{account_id}:{seq}"


async def clear_drain_flag(queue: JobQueue, account_id: uuid.UUID | str) -> None:
    """Say that the account's queued drain has started: the next stored event queues another."""
    await queue.delete(drain_flag_key(account_id))


def drain_seq_key(account_id: uuid.UUID | str) -> str:
    """The Redis counter that numbers the account's drain jobs."""
    return f"ashby:drain-seq:{account_id}"
