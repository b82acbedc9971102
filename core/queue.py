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


class JobQueue(Protocol):
    """What enqueueing needs of arq's Redis pool (kept structural so core imports no queue library)."""

    async def enqueue_job(self, function: str, *args: Any, _job_id: str | None = None, **kwargs: Any) -> Any: ...


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
