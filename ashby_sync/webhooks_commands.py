"""`ashby-sync webhooks`: register Ashby webhooks pointing at the receiver, list, delete them, rotate their secret."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import aiohttp
import typer
from rich.markup import escape
from rich.table import Table

from ashby_api.client import new_session
from ashby_api.retry import Retrier, RetryPolicy
from ashby_sync.console import fail, load_settings, out, run
from core.config import Settings
from store import accounts, ashby_webhooks
from store.accounts import Account
from store.pool import Pool, create_pool
from store.secrets import SecretBox
from sync.accounts import account_context
from sync.passes import SyncContext
from sync.webhook_registration import (
    BETA_TYPES,
    DEFAULT_TYPES,
    WEBHOOK_TYPES,
    Deletion,
    Registration,
    Rotation,
    WebhookState,
    delete_webhooks,
    describe_webhooks,
    register_webhooks,
    rotate_secret,
    webhook_url,
)

T = TypeVar("T")

webhooks_app = typer.Typer(
    help="Ashby webhooks that point at this deployment's receiver (`ashby-sync serve`).", no_args_is_help=True
)

CLI_RETRY = Retrier(policy=RetryPolicy(max_attempts=3, max_total=30))
AccountOption = Annotated[str, typer.Option("--account", help="Account name or id.")]
OptionalAccount = Annotated[str | None, typer.Option("--account", help="Account name or id (default: every account).")]


@dataclass(frozen=True, slots=True)
class _Env:
    pool: Pool
    session: aiohttp.ClientSession
    box: SecretBox


@asynccontextmanager
async def _env(settings: Settings) -> AsyncIterator[_Env]:
    box = SecretBox(settings.secret_key())
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        async with new_session() as session:
            yield _Env(pool, session, box)
    finally:
        await pool.close()


async def _for_accounts(
    settings: Settings, ref: str | None, fn: Callable[[_Env, SyncContext], Awaitable[T]]
) -> list[tuple[Account, T]]:
    """Run `fn` with the SyncContext of the account `ref` (or of every account)."""
    async with _env(settings) as env:
        async with env.pool.acquire() as conn:
            targets = [await accounts.get_account(conn, ref)] if ref else await accounts.list_accounts(conn)
        results = []
        for account in targets:
            async with account_context(env.pool, env.session, env.box, account.id, retry=CLI_RETRY) as ctx:
                results.append((account, await fn(env, ctx)))
        return results


def _parse_types(given: list[str] | None) -> tuple[str, ...]:
    if not given:
        return DEFAULT_TYPES
    unknown = sorted(set(given) - WEBHOOK_TYPES)
    if unknown:
        fail(f"unknown --type {', '.join(unknown)}; expected one of: {', '.join(sorted(WEBHOOK_TYPES))}", 2)
    return tuple(dict.fromkeys(given))


def _parse_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"--url must be the receiver's http(s) base URL, e.g. https://hooks.example.com (got {url!r})", 2)
    return url.strip().rstrip("/")


@webhooks_app.command("register")
def register(
    account: AccountOption,
    url: Annotated[
        str,
        typer.Option("--url", help="Base URL where Ashby reaches `ashby-sync serve`, e.g. https://hooks.example.com."),
    ],
    webhook_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="Webhook type to register (repeatable). Default: every type except the beta "
            f"{', '.join(sorted(BETA_TYPES))}.",
        ),
    ] = None,
) -> None:
    """Create one Ashby webhook per type, signed with the account's secret (generated and stored encrypted once).

    Safe to run again: webhooks already registered are kept, and disabled ones are re-pinged and enabled.
    """
    settings = load_settings()
    types = _parse_types(webhook_type)
    base = _parse_base_url(url)

    async def go(env: _Env, ctx: SyncContext) -> list[Registration]:
        return await register_webhooks(ctx, env.box, base, types)

    ((target, results),) = run(_for_accounts(settings, account, go))
    target_url = webhook_url(base, target.id)
    table = Table(title=f"{target.name}: webhooks to {target_url}")
    for name in ("type", "webhook id", "enabled"):
        table.add_column(name, no_wrap=True)
    table.add_column("result", overflow="fold")
    for r in results:
        note = r.outcome if r.error is None else f"[red]{r.outcome}[/]: {escape(r.error)}"
        table.add_row(r.webhook_type, r.webhook_id or "-", "yes" if r.enabled else "[red]no[/]", note)
    out.print(table)
    disabled = [r for r in results if r.outcome == "disabled"]
    failed = [r for r in results if r.outcome == "failed"]
    out.print(f"{sum(r.enabled for r in results)} of {len(results)} webhooks enabled.")
    if disabled:
        out.print(
            f"[yellow]{len(disabled)} saved disabled[/]: Ashby's ping to {target_url} failed (no answer, or an "
            "error status). Is `ashby-sync serve` running and reachable from Ashby at that URL? Start it (or fix "
            f"--url), then run `ashby-sync webhooks register --account {target.name} --url {base}` again: "
            "disabled webhooks are pinged again and enabled.",
            soft_wrap=True,
        )
    if failed:
        out.print(
            f"[red]{len(failed)} not created[/]: {', '.join(r.webhook_type for r in failed)}. Ashby refused them "
            "(see the table: a type this org does not offer is refused); the others were registered.",
            soft_wrap=True,
        )
    if disabled or failed:
        raise typer.Exit(1)


@webhooks_app.command("list")
def list_webhooks(account: OptionalAccount = None) -> None:
    """Show the registered webhooks as Ashby reports them now (webhook.info): type, enabled, URL."""
    settings = load_settings()

    async def go(env: _Env, ctx: SyncContext) -> list[WebhookState]:
        return await describe_webhooks(ctx)

    per_account = run(_for_accounts(settings, account, go))
    table = Table()
    for name in ("account", "type", "webhook id", "enabled"):
        table.add_column(name, no_wrap=True)
    table.add_column("url", overflow="fold")
    rows = 0
    for target, states in per_account:
        for s in states:
            rows += 1
            if s.error is not None:
                table.add_row(target.name, s.webhook.webhook_type, s.webhook.id, "?", f"[red]{escape(s.error)}[/]")
                continue
            enabled = "yes" if s.enabled else "[red]no[/]"
            table.add_row(target.name, s.webhook_type or "-", s.webhook.id, enabled, s.request_url or "-")
    if not rows:
        out.print("no webhooks registered: run `ashby-sync webhooks register --account N --url BASE`")
        return
    out.print(table)


@webhooks_app.command("delete")
def delete(
    account: OptionalAccount = None,
    webhook_id: Annotated[
        list[str] | None, typer.Option("--id", help="Webhook id to delete (repeatable; default: all of --account).")
    ] = None,
) -> None:
    """Delete webhooks in Ashby and forget them: all of an account's, or the given ids."""
    if account is None and not webhook_id:
        fail("give --account N (delete all its webhooks) or --id ID (repeatable)", 2)
    settings = load_settings()
    results = run(_delete(settings, account, webhook_id or None))
    table = Table()
    for name in ("account", "webhook id"):
        table.add_column(name, no_wrap=True)
    table.add_column("result", overflow="fold")
    for name, d in results:
        note = d.outcome if d.error is None else f"[red]{d.outcome}[/]: {escape(d.error)}"
        table.add_row(name, d.webhook_id, note)
    out.print(table)
    if any(d.outcome == "failed" for _, d in results):
        raise typer.Exit(1)


async def _delete(settings: Settings, ref: str | None, ids: list[str] | None) -> list[tuple[str, Deletion]]:
    owners: dict[str, uuid.UUID] = {}
    if ref is None:  # ids alone: each is deleted through the account that registered it
        async with _env(settings) as env, env.pool.acquire() as conn:
            owners = {w.id: w.account_id for w in await ashby_webhooks.list_webhooks(conn)}
    out_rows: list[tuple[str, Deletion]] = []
    if ids is not None and ref is None:
        for unknown in [i for i in ids if i not in owners]:
            out_rows.append(("-", Deletion(unknown, "failed", "not registered here; give --account to delete it")))

    async def go(env: _Env, ctx: SyncContext) -> list[Deletion]:
        if ids is None:  # every webhook of --account
            return await delete_webhooks(ctx)
        mine = ids if ref is not None else [i for i in ids if owners.get(i) == ctx.account_id]
        return await delete_webhooks(ctx, mine) if mine else []

    for target, deletions in await _for_accounts(settings, ref, go):
        out_rows.extend((target.name, d) for d in deletions)
    return out_rows


@webhooks_app.command("rotate-secret")
def rotate(account: AccountOption) -> None:
    """Give every registered webhook of the account a new secret; the old one stays valid until all have it."""
    settings = load_settings()

    async def go(env: _Env, ctx: SyncContext) -> Rotation:
        return await rotate_secret(ctx, env.box)

    ((target, r),) = run(_for_accounts(settings, account, go))
    total = len(r.updated) + len(r.disabled) + len(r.failed)
    if r.resumed:
        out.print("finishing the rotation left unfinished last time (its new secret is kept)")
    if total == 0:
        out.print(
            f"{target.name}: new webhook secret stored, but no webhooks are registered by ashby-sync for it; "
            "webhooks set up by hand in Ashby must be given the new secret by hand."
        )
    for hook in r.disabled:
        out.print(
            f"[yellow]{hook.webhook_type} ({hook.id}) has the new secret but Ashby saved it disabled: its ping "
            f"to {hook.request_url} failed[/]; once `ashby-sync serve` is reachable there, run "
            f"`ashby-sync webhooks register --account {target.name} --url BASE` to enable it again.",
            soft_wrap=True,
        )
    for hook, error in r.failed:
        out.print(f"[red]{hook.webhook_type} ({hook.id}) still has the old secret[/]: {escape(error)}", soft_wrap=True)
    if not r.finished:
        out.print(
            f"[red]{len(r.failed)} of {total} webhooks not updated[/]: both the old and the new secret stay valid. "
            f"Run `ashby-sync webhooks rotate-secret --account {target.name}` again to finish.",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(f"{target.name}: {total} webhooks now use the new secret; the previous secret no longer verifies.")
