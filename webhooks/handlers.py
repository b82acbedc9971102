"""The receiver's routes: Ashby webhooks (DESIGN.md invariant 2), health, readiness and metrics."""

import asyncio
import functools
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import msgspec
import prometheus_client
import structlog
from aiohttp import web
from arq.connections import ArqRedis
from structlog.contextvars import bind_contextvars

from ashby_api.json_body import decode_json_as_sent
from ashby_api.webhooks import SIGNATURE_HEADER, WEBHOOK_ACTIONS, verify_signature
from store import inbox
from store.errors import AccountNotFoundError, DatabaseUnavailableError, SecretKeyError
from store.pool import Pool
from webhooks.dispatch import REDIS_UNAVAILABLE
from webhooks.inbox_writer import POSTGRES_UNAVAILABLE, InboxWriter, Stored
from webhooks.metrics import ReceiverMetrics
from webhooks.secret_cache import AccountSecrets, SecretCache

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # the level check alone: a dropped structlog line still runs its chain

APPLIED_ACTIONS = WEBHOOK_ACTIONS - {"ping"}  # stored `pending` for the worker; the rest are stored `skipped`
REJECTED_PREFIX = "rejected:"  # webhook_action_id of a malformed body: rejected:<sha256 hex of the body>
REJECTED_ACTION = "rejected"
PROBE_TIMEOUT_S = 2.0


@dataclass(slots=True)
class Receiver:
    """What the handlers share for the life of the process (built by the app's cleanup_ctx)."""

    pool: Pool
    queue: ArqRedis
    secrets: SecretCache
    writer: InboxWriter
    metrics: ReceiverMetrics
    max_body_bytes: int
    warned_no_secret: set[uuid.UUID] = field(default_factory=set)


RECEIVER = web.AppKey("receiver", Receiver)


_MAX_ACTION_ID = 200
_MAX_ACTION = 100


def _storable(value: object, max_length: int) -> TypeGuard[str]:
    # Postgres text holds neither NUL nor lone surrogates: refuse them here (400), not in a batch INSERT.
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isprintable()


@functools.lru_cache(maxsize=4096)  # a deployment has few accounts; malformed ids raise and are not cached
def _account_id(text: str) -> tuple[uuid.UUID, str]:
    """The account id of a webhook URL, and its canonical text; ValueError when it is not a UUID."""
    account_id = uuid.UUID(text)
    return account_id, str(account_id)


def _answer(status: int, outcome: str) -> web.Response:
    return web.Response(body=b'{"status":"%s"}' % outcome.encode(), status=status, content_type="application/json")


def _reject(r: Receiver, status: int, reason: str, **extra: Any) -> web.Response:
    r.metrics.rejected.labels(reason).inc()
    log.info("webhook_rejected", status=status, reason=reason, **extra)
    return _answer(status, reason)


def _store_failed(r: Receiver, exc: Exception) -> web.Response:
    r.metrics.store_failures.inc()
    log.warning("webhook_store_failed", status=503, error=str(exc))
    return _answer(503, "unavailable")


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` bytes (never reading more than the limit)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        return await request.read()  # the app's client_max_size is `limit`: aiohttp stops reading past it
    except web.HTTPRequestEntityTooLarge:
        return None


class _Envelope(msgspec.Struct):
    """What the receiver reads of a delivery: `data` is only checked to be valid JSON, never built."""

    webhookActionId: object = None  # Ashby's key
    action: object = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


def _parse(body: bytes) -> tuple[str, str] | None:
    """(webhookActionId, action) of a well-formed envelope `{webhookActionId, action, data: {...}}`, else None.

    msgspec checks the whole body as it finds the three keys, without building `data` (a sixth of the cost of
    parsing it into objects): this runs for every delivery. What it cannot read (a lone surrogate escape, invalid
    UTF-8 msgspec would not look at inside `data`, very deep nesting) is decided by the standard library's
    parser, as the worker reads it. The inbox keeps the raw bytes, not what is parsed here.
    """
    try:
        envelope = _decode_envelope(body)
        if not body.isascii():
            body.decode()  # msgspec does not check the UTF-8 of what it skips
        action_id, action = envelope.webhookActionId, envelope.action
        data_is_object = memoryview(envelope.data)[:1].tobytes() == b"{"
    except msgspec.ValidationError:  # well-formed, but not an object
        return None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        try:  # valid JSON that msgspec refuses: the worker repairs lone surrogates
            decoded = decode_json_as_sent(body)
        except ValueError:  # not JSON, NaN or Infinity, nested too deeply
            return None
        if not isinstance(decoded, dict):
            return None
        action_id, action = decoded.get("webhookActionId"), decoded.get("action")
        data_is_object = isinstance(decoded.get("data"), dict)
    if not data_is_object or not _storable(action, _MAX_ACTION):
        return None
    if action_id is None and action == "ping":  # Ashby documents the id on every payload; a ping without is harmless
        return "ping:" + hashlib.sha256(body).hexdigest(), action
    if not _storable(action_id, _MAX_ACTION_ID):
        return None
    return action_id, action


async def receive_webhook(request: web.Request) -> web.Response:
    """POST /webhooks/ashby/{account_id}: verify, record, enqueue, answer; 2xx only once the event is committed."""
    started = time.perf_counter()
    r = request.app[RECEIVER]
    arrived = r.secrets.now()
    try:
        account_id, account_text = _account_id(request.match_info["account_id"])
    except ValueError:
        return _reject(r, 404, "unknown_account")
    bind_contextvars(account_id=account_text)
    body = await _read_body(request, r.max_body_bytes)
    if body is None:
        return _reject(r, 413, "too_large", content_length=request.content_length)
    refusal = await _authenticate(r, account_id, body, request.headers.get(SIGNATURE_HEADER), arrived)
    if refusal is not None:
        return refusal
    parsed = _parse(body)
    if parsed is None:
        key = inbox.InboxKey(account_id, REJECTED_PREFIX + hashlib.sha256(body).hexdigest(), REJECTED_ACTION)
        failed = await _write(r, inbox.NewEvent(key, body, inbox.REJECTED))
        if isinstance(failed, web.Response):
            return failed
        return _reject(r, 400, "malformed", webhook_action_id=key.webhook_action_id, size=len(body))

    webhook_action_id, action = parsed
    bind_contextvars(webhook_action=action, webhook_action_id=webhook_action_id)
    r.metrics.count_received(action)
    status = inbox.PENDING if action in APPLIED_ACTIONS else inbox.SKIPPED
    key = inbox.InboxKey(account_id, webhook_action_id, action)
    stored = await _write(r, inbox.NewEvent(key, body, status))
    if isinstance(stored, web.Response):
        return stored
    if not stored.new:
        r.metrics.count_duplicate(action)
        r.metrics.ingest_seconds.observe(time.perf_counter() - started)
        if _stdlib_log.isEnabledFor(logging.DEBUG):
            log.debug("webhook_duplicate", status=200)
        return _answer(200, "duplicate")
    r.metrics.ingest_seconds.observe(time.perf_counter() - started)
    if action not in WEBHOOK_ACTIONS:
        log.info("webhook_action_unknown", status=200, stored=inbox.SKIPPED)
    # DEBUG: at thousands a second an INFO line per delivery cost a fifth of the receiver's CPU. Accepted
    # deliveries are counted in /metrics; refusals and failures are logged one by one.
    if _stdlib_log.isEnabledFor(logging.DEBUG):
        log.debug("webhook_stored", status=200, stored=status, enqueued=stored.enqueued, size=len(body))
    return _answer(200, "stored")


async def _authenticate(
    r: Receiver, account_id: uuid.UUID, body: bytes, header: str | None, arrived: float
) -> web.Response | None:
    """None when `body` is signed by one of the account's secrets, else the answer refusing it (404, 401, 503)."""
    try:
        entry = await r.secrets.get(account_id)
        if not entry.exists:
            return _reject(r, 404, "unknown_account")
        if not header:
            return _reject(r, 401, "missing_signature")
        if _signed(entry, body, header):
            return None
        if entry.loaded_at < arrived:
            # Before refusing, read the secrets again: a rotation (or a first secret) may have just been stored,
            # and Ashby never retries a 401.
            entry = await r.secrets.get_since(account_id, arrived)
            if not entry.exists:
                return _reject(r, 404, "unknown_account")
            if _signed(entry, body, header):
                return None
    except DatabaseUnavailableError as exc:
        return _store_failed(r, exc)
    except SecretKeyError as exc:  # an operator error: 503 keeps Ashby retrying until the key is fixed
        log.error("webhook_secret_undecryptable", error=str(exc))
        return _store_failed(r, exc)
    if not entry.secrets:
        if account_id not in r.warned_no_secret:
            r.warned_no_secret.add(account_id)
            log.warning(
                "webhook_secret_missing",
                hint="this account has no webhook secret: every delivery gets 401 until one is set "
                "(`ashby-sync webhooks register` generates one)",
            )
        return _reject(r, 401, "no_secret")
    return _reject(r, 401, "bad_signature")


def _signed(entry: AccountSecrets, body: bytes, header: str) -> bool:
    return verify_signature([s.get_secret_value() for s in entry.secrets], body, header)


async def _write(r: Receiver, event: inbox.NewEvent) -> Stored | web.Response:
    """`event` committed (and its job queued), or the answer when it could not be (503, or 404: account gone)."""
    try:
        return await r.writer.write(event)
    except DatabaseUnavailableError as exc:
        return _store_failed(r, exc)
    except AccountNotFoundError:
        return _reject(r, 404, "unknown_account")


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the process is up and serving."""
    return web.json_response({"status": "ok"})


async def _check_postgres(r: Receiver) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), r.pool.acquire() as conn:
            await inbox.probe(conn)
    except POSTGRES_UNAVAILABLE as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


async def _check_redis(r: Receiver) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await r.queue.ping()
    except REDIS_UNAVAILABLE as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 when Postgres and Redis both answer, else 503 naming the one that does not."""
    r = request.app[RECEIVER]
    postgres, redis_state = await asyncio.gather(_check_postgres(r), _check_redis(r))
    ok = postgres == "ok" and redis_state == "ok"
    return web.json_response({"postgres": postgres, "redis": redis_state}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text format; the inbox backlog is read from Postgres now."""
    r = request.app[RECEIVER]
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), r.pool.acquire() as conn:
            r.metrics.backlog.set(await inbox.count_pending(conn))
    except POSTGRES_UNAVAILABLE as exc:  # the gauge keeps its last value; readyz says why
        log.info("metrics_backlog_unavailable", error=exc.__class__.__name__)
    body = prometheus_client.generate_latest(r.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})
