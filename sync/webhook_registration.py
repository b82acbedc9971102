"""Registering Ashby webhooks that point at our receiver, listing and deleting them, and rotating their secret.

One secret per account signs every webhook of it. It is stored (encrypted) before any webhook is created,
because Ashby pings the URL on create and on every update, and the receiver must be able to verify that ping.
Webhook creation is never retried (it is not idempotent); reads, updates and deletes are.
"""

import functools
import secrets
from dataclasses import dataclass

import structlog
from pydantic import SecretStr

from ashby_api.errors import AshbyError, NotFound
from ashby_api.webhooks import WEBHOOK_ACTIONS
from store import accounts, ashby_webhooks
from store.ashby_webhooks import RegisteredWebhook
from store.secrets import SecretBox
from sync.passes import SyncContext

log = structlog.get_logger(__name__)

# Take-home assignment webhooks are in beta and not offered to every org (Ashby's spec does not list them);
# they are registered only when asked for by name.
BETA_TYPES = frozenset(a for a in WEBHOOK_ACTIONS if a.startswith("takeHomeAssignment"))
WEBHOOK_TYPES = frozenset(WEBHOOK_ACTIONS - {"ping"})
DEFAULT_TYPES: tuple[str, ...] = tuple(sorted(WEBHOOK_TYPES - BETA_TYPES))


def webhook_url(base_url: str, account_id: object) -> str:
    """Where Ashby sends an account's webhooks: the receiver's route under `base_url`."""
    return f"{base_url.rstrip('/')}/webhooks/ashby/{account_id}"


def new_secret() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class Registration:
    """What became of one webhook type: `outcome` is created, exists, re-enabled, disabled or failed."""

    webhook_type: str
    outcome: str
    webhook_id: str | None = None
    enabled: bool = False
    error: str | None = None


async def register_webhooks(
    ctx: SyncContext, box: SecretBox, base_url: str, types: tuple[str, ...] = DEFAULT_TYPES
) -> list[Registration]:
    """Make sure one enabled webhook per type points at the receiver; safe to run again (it re-pings disabled ones).

    A type Ashby refuses is reported as `failed` and the others are still registered.
    """
    url = webhook_url(base_url, ctx.account_id)
    async with ctx.pool.acquire() as conn:
        creds = await accounts.get_credentials(conn, box, ctx.account_id)
        secret = creds.webhook_secrets[0] if creds.webhook_secrets else None
        if secret is None:
            secret = new_secret()
            await accounts.set_webhook_secret(conn, box, ctx.account_id, secret)
            log.info("webhook_secret_created")
        existing = await ashby_webhooks.list_webhooks(conn, ctx.account_id)
    results = []
    for webhook_type in dict.fromkeys(types):
        same = next((w for w in existing if w.webhook_type == webhook_type and w.request_url == url), None)
        result = await _ensure(ctx, same) if same is not None else None
        if result is None:
            result = await _create(ctx, webhook_type, url, secret)
        log.info("webhook_registered", webhook_type=webhook_type, outcome=result.outcome, webhook_id=result.webhook_id)
        results.append(result)
    return results


async def _ensure(ctx: SyncContext, hook: RegisteredWebhook) -> Registration | None:
    """An already registered webhook: kept, or re-enabled (Ashby re-pings); None when Ashby no longer has it."""
    try:
        info = await ctx.retry(functools.partial(ctx.client.webhook_info, hook.id))
        if info.enabled:
            outcome, enabled = "exists", True
        else:
            updated = await ctx.retry(functools.partial(ctx.client.webhook_update, hook.id, enabled=True))
            enabled = bool(updated.enabled)
            outcome = "re-enabled" if enabled else "disabled"
    except NotFound:
        async with ctx.pool.acquire() as conn:
            await ashby_webhooks.delete_webhook(conn, ctx.account_id, hook.id)
        return None
    except AshbyError as exc:
        return Registration(hook.webhook_type, "failed", hook.id, hook.enabled, str(exc))
    async with ctx.pool.acquire() as conn:
        await ashby_webhooks.set_enabled(conn, ctx.account_id, hook.id, enabled)
    return Registration(hook.webhook_type, outcome, hook.id, enabled)


async def _create(ctx: SyncContext, webhook_type: str, url: str, secret: SecretStr) -> Registration:
    try:
        created = await ctx.client.webhook_create(webhook_type, url, secret)
    except AshbyError as exc:  # e.g. a type this org's Ashby does not offer: reported, the others go on
        return Registration(webhook_type, "failed", error=str(exc))
    enabled = bool(created.enabled)
    async with ctx.pool.acquire() as conn:
        await ashby_webhooks.save_webhook(
            conn, ctx.account_id, created.id, webhook_type=webhook_type, request_url=url, enabled=enabled
        )
    return Registration(webhook_type, "created" if enabled else "disabled", created.id, enabled)


@dataclass(frozen=True, slots=True)
class WebhookState:
    """A registered webhook as Ashby describes it now (`webhook.info`); `error` when Ashby could not say."""

    webhook: RegisteredWebhook
    enabled: bool | None
    webhook_type: str | None
    request_url: str | None
    error: str | None = None


async def describe_webhooks(ctx: SyncContext) -> list[WebhookState]:
    """Every registered webhook of the account, as `webhook.info` reports it (the stored state is refreshed)."""
    async with ctx.pool.acquire() as conn:
        hooks = await ashby_webhooks.list_webhooks(conn, ctx.account_id)
    states = []
    for hook in hooks:
        try:
            info = await ctx.retry(functools.partial(ctx.client.webhook_info, hook.id))
        except NotFound:
            states.append(WebhookState(hook, None, None, None, "not found in Ashby (deleted there?)"))
            continue
        except AshbyError as exc:
            states.append(WebhookState(hook, None, None, None, str(exc)))
            continue
        if info.enabled is not None and info.enabled != hook.enabled:
            async with ctx.pool.acquire() as conn:
                await ashby_webhooks.set_enabled(conn, ctx.account_id, hook.id, info.enabled)
        states.append(WebhookState(hook, info.enabled, info.webhook_type, info.request_url))
    return states


@dataclass(frozen=True, slots=True)
class Deletion:
    webhook_id: str
    outcome: str  # deleted, already gone (Ashby did not know it), failed
    error: str | None = None


async def delete_webhooks(ctx: SyncContext, webhook_ids: list[str] | None = None) -> list[Deletion]:
    """Delete webhooks in Ashby and forget them: `webhook_ids`, or every registered webhook of the account."""
    async with ctx.pool.acquire() as conn:
        hooks = [w.id for w in await ashby_webhooks.list_webhooks(conn, ctx.account_id)]
    results = []
    for webhook_id in webhook_ids if webhook_ids is not None else hooks:
        try:
            await ctx.retry(functools.partial(ctx.client.webhook_delete, webhook_id))
            outcome = "deleted"
        except NotFound:
            outcome = "already gone"
        except AshbyError as exc:
            results.append(Deletion(webhook_id, "failed", str(exc)))
            continue
        async with ctx.pool.acquire() as conn:
            await ashby_webhooks.delete_webhook(conn, ctx.account_id, webhook_id)
        log.info("webhook_deleted", webhook_id=webhook_id, outcome=outcome)
        results.append(Deletion(webhook_id, outcome))
    return results


@dataclass(frozen=True, slots=True)
class Rotation:
    """A secret rotation: `finished` when every registered webhook has the new secret and the old one is dropped."""

    updated: list[RegisteredWebhook]
    disabled: list[RegisteredWebhook]  # the secret was changed, but Ashby's ping failed: saved disabled
    failed: list[tuple[RegisteredWebhook, str]]
    resumed: bool  # a rotation left unfinished was completed (its new secret kept)
    finished: bool


async def rotate_secret(ctx: SyncContext, box: SecretBox) -> Rotation:
    """Give every registered webhook a new secret; the old one stays valid until all of them have it.

    The new secret is stored as current (the old kept as previous, so the receiver accepts both) before Ashby
    is told, since Ashby pings with the new secret on update. Only when every update succeeded is the previous
    secret dropped. Run again after a partial failure: it finishes the same rotation rather than starting another.
    """
    async with ctx.pool.acquire() as conn:
        creds = await accounts.get_credentials(conn, box, ctx.account_id)
        resumed = len(creds.webhook_secrets) > 1
        if resumed:
            secret = creds.webhook_secrets[0]
        else:
            secret = new_secret()
            await accounts.set_webhook_secret(conn, box, ctx.account_id, secret)
        hooks = await ashby_webhooks.list_webhooks(conn, ctx.account_id)
    updated: list[RegisteredWebhook] = []
    disabled: list[RegisteredWebhook] = []
    failed: list[tuple[RegisteredWebhook, str]] = []
    for hook in hooks:
        try:
            info = await ctx.retry(functools.partial(ctx.client.webhook_update, hook.id, secret_token=secret))
        except AshbyError as exc:
            failed.append((hook, str(exc)))
            continue
        (updated if info.enabled or not hook.enabled else disabled).append(hook)
        if info.enabled is not None and info.enabled != hook.enabled:
            async with ctx.pool.acquire() as conn:
                await ashby_webhooks.set_enabled(conn, ctx.account_id, hook.id, info.enabled)
    finished = not failed
    if finished:
        async with ctx.pool.acquire() as conn:
            await ashby_webhooks.drop_previous_webhook_secret(conn, ctx.account_id)
    log.info(
        "webhook_secret_rotated",
        webhooks=len(hooks),
        failed=len(failed),
        disabled=len(disabled),
        resumed=resumed,
        finished=finished,
    )
    return Rotation(updated, disabled, failed, resumed, finished)
