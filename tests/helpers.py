"""Helpers shared by the sync, worker and CLI tests."""

import uuid

from ashby_api.retry import Retrier, RetryPolicy
from store import mirror
from store.pool import Pool
from store.secrets import generate_key

SECRET_KEY = generate_key()


async def _no_wait(_: float) -> None:
    return None


# Retries without sleeping: the sandbox's faults are random per request, so a retry is a fresh draw.
FAST_RETRY = Retrier(policy=RetryPolicy(max_attempts=25, base=0.001, cap=0.001, max_total=60), sleep=_no_wait)


async def assert_mirror_matches(pool: Pool, account_id: uuid.UUID, state, resource: str) -> None:
    """The live rows of the mirror are exactly the sandbox's current records, object for object."""
    async with pool.acquire() as conn:
        mirrored = await mirror.get_raw(conn, resource, account_id)
    expected = {r["id"]: r for r in state.all_records(resource)}
    assert mirrored.keys() == expected.keys(), resource
    assert mirrored == expected, resource
