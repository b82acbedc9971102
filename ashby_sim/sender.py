"""Signed webhook delivery with Ashby's retry rule, plus the drop / duplicate / reorder switches.

First attempts go out one at a time in submission order (reversed batches when reordering); retries run in
background tasks the sender owns, so `close()` leaves nothing behind.
"""

import asyncio
import random
import time
from dataclasses import dataclass, field

import aiohttp
import structlog

from ashby_api.webhooks import SIGNATURE_HEADER, sign
from ashby_sim.faults import Faults

log = structlog.get_logger(__name__)

NO_RETRY = frozenset({401, 403, 404, 405, 410})  # Ashby never retries these


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One payload for one webhook."""

    webhook_id: str
    url: str
    secret: str
    action: str
    webhook_action_id: str
    body: bytes


@dataclass(slots=True)
class Delivery:
    """One attempt (or a decision not to attempt) in `state.deliveries`.

    `outcome`: delivered (2xx), retrying, gave_up (attempts exhausted), rejected (a status Ashby does not
    retry), dropped (the drop switch), or failed (a ping that did not succeed).
    """

    webhook_id: str
    action: str
    webhook_action_id: str
    attempt: int
    status: int | None
    outcome: str
    duplicate: bool = False
    at: float = field(default_factory=time.time)


class WebhookSender:
    """Delivers `Outgoing` payloads over one ClientSession given by `start()`; `close()` cancels retries."""

    def __init__(self, faults: Faults, rng: random.Random, log_to: list[Delivery]) -> None:
        self.faults = faults
        self.rng = rng
        self.deliveries = log_to
        self._session: aiohttp.ClientSession | None = None
        self._queue: list[Outgoing] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        # Fresh events: asyncio primitives bind to the loop that first waits on them, and a state may outlive one.
        self._wakeup, self._idle = asyncio.Event(), asyncio.Event()
        if self._pending == 0:
            self._idle.set()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="ashby-sim-webhooks")
        if self._queue:
            self._wakeup.set()

    async def close(self) -> None:
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker, self._session = None, None
        self._tasks.clear()

    def submit(self, outgoing: Outgoing) -> None:
        self._queue.append(outgoing)
        self._begin()
        self._wakeup.set()

    async def wait_idle(self) -> None:
        """Return once every submitted payload is delivered, given up or dropped (retries included)."""
        if self._worker is None:
            return
        await self._idle.wait()

    async def ping(self, webhook_id: str, url: str, secret: str, body: bytes, webhook_action_id: str) -> bool:
        """Ashby pings a webhook on create/update; a failed ping (error, timeout, status >= 400) disables it."""
        status = await self._post(Outgoing(webhook_id, url, secret, "ping", webhook_action_id, body))
        ok = status is not None and status < 400
        self.deliveries.append(
            Delivery(webhook_id, "ping", webhook_action_id, 1, status, "delivered" if ok else "failed")
        )
        return ok

    # --- internals -------------------------------------------------------------------------------
    def _begin(self) -> None:
        self._pending += 1
        self._idle.clear()

    def _end(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.faults.webhook_reorder:
                await asyncio.sleep(self.faults.webhook_reorder_window_ms / 1000)  # gather a batch to reverse
            batch, self._queue = self._queue, []
            if self.faults.webhook_reorder:
                batch.reverse()
            for outgoing in batch:
                await self._first_attempt(outgoing)

    async def _first_attempt(self, outgoing: Outgoing) -> None:
        if self.rng.random() < self.faults.webhook_drop:
            self.deliveries.append(
                Delivery(outgoing.webhook_id, outgoing.action, outgoing.webhook_action_id, 1, None, "dropped")
            )
            self._end()
            return
        duplicate = self.rng.random() < self.faults.webhook_duplicate
        if duplicate:
            self._begin()  # before the first send ends, so waiters never see a gap between the two
        await self._attempt(outgoing, 1, duplicate=False)
        if duplicate:
            await self._attempt(outgoing, 1, duplicate=True)

    async def _attempt(self, outgoing: Outgoing, attempt: int, *, duplicate: bool) -> None:
        status = await self._post(outgoing)
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        elif status in NO_RETRY:
            outcome = "rejected"
        elif attempt >= self.faults.webhook_max_attempts:
            outcome = "gave_up"
        else:
            outcome = "retrying"
        self.deliveries.append(
            Delivery(
                outgoing.webhook_id, outgoing.action, outgoing.webhook_action_id, attempt, status, outcome, duplicate
            )
        )
        if outcome != "retrying":
            self._end()
            return
        delay = (2**attempt - 1) * self.faults.webhook_retry_base
        task = asyncio.get_running_loop().create_task(self._retry(outgoing, attempt + 1, delay, duplicate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, outgoing: Outgoing, attempt: int, delay: float, duplicate: bool) -> None:
        await asyncio.sleep(delay)
        await self._attempt(outgoing, attempt, duplicate=duplicate)

    async def _post(self, outgoing: Outgoing) -> int | None:
        if self._session is None:
            raise RuntimeError("the webhook sender is not started")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(outgoing.secret, outgoing.body)}
        timeout = aiohttp.ClientTimeout(total=self.faults.webhook_timeout)
        try:
            async with self._session.post(outgoing.url, data=outgoing.body, headers=headers, timeout=timeout) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("webhook_delivery_failed", webhook_id=outgoing.webhook_id, error=type(exc).__name__)
            return None
