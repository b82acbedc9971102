"""`ashby-sync sync` and `ashby-sync status`: passes run inline with progress, and what the mirror holds."""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ashby_api.client import new_session
from ashby_api.resources import RESOURCES, Resource, get_resource
from ashby_sync.console import err, fail, out
from core.config import Settings
from store import accounts, inbox, sync_state
from store.pool import create_pool
from store.secrets import SecretBox
from sync.accounts import account_context, sync_account
from sync.passes import PassResult


def parse_resources(names: Sequence[str]) -> list[Resource]:
    """The resources named on the command line (all when none), or a one-line error."""
    try:
        return [get_resource(n) for n in names] if names else list(RESOURCES)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)


class _Bars:
    """One progress line per (account, resource): rows, pages and rows/s."""

    def __init__(self, progress: Progress, account: str) -> None:
        self._progress = progress
        self._account = account
        self._tasks: dict[str, tuple[TaskID, float]] = {}
        self._started = time.monotonic()

    def __call__(self, resource: str, rows: int, pages: int) -> None:
        if resource not in self._tasks:
            task = self._progress.add_task(resource, total=None, rows=0, pages=0, rate=0.0)
            self._tasks[resource] = (task, self._started)
        task, started = self._tasks[resource]
        rate = rows / max(time.monotonic() - started, 1e-6)
        self._progress.update(task, rows=rows, pages=pages, rate=rate)


def _summary(account: str, results: list[PassResult], failures: list[tuple[str, BaseException]]) -> Table:
    table = Table(title=account)
    table.add_column("resource", no_wrap=True)
    for name in ("mode", "rows", "written", "deleted", "bad", "secs", "result"):
        table.add_column(name, justify="left" if name in ("mode", "result") else "right")
    for r in sorted(results, key=lambda r: r.resource):
        note = f"full after {r.restarted}" if r.restarted else "ok"
        table.add_row(
            r.resource,
            r.mode.replace("incremental", "incr"),
            str(r.rows),
            str(r.written),
            str(r.deleted),
            str(r.rejected),
            f"{r.seconds:.1f}",
            note,
        )
    for name, exc in failures:
        table.add_row(name, "-", "-", "-", "-", "-", "-", f"[red]failed[/]: {type(exc).__name__}: {exc}")
    return table


async def run_sync(settings: Settings, account_ref: str | None, resources: list[Resource], full: bool) -> bool:
    """Run passes for one account (or all); prints progress and a summary. True when every pass succeeded."""
    box = SecretBox(settings.secret_key())
    pool = await create_pool(settings.database_url, max_size=20)
    tables: list[Table] = []
    ok = True
    try:
        async with pool.acquire() as conn:
            targets = (
                [await accounts.get_account(conn, account_ref)] if account_ref else await accounts.list_accounts(conn)
            )
        if not targets:
            fail("no accounts yet: add one with `ashby-sync accounts add --name N --api-key K`")
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description:<32}"),
            TextColumn("{task.fields[rows]:>9,} rows"),
            TextColumn("{task.fields[pages]:>5,} pages"),
            TextColumn("{task.fields[rate]:>7,.0f}/s"),
            TimeElapsedColumn(),
        )
        async with new_session() as session:
            with Progress(*columns, console=err, transient=False) as progress:
                for account in targets:
                    async with account_context(pool, session, box, account.id) as ctx:
                        results, failures = await sync_account(
                            ctx,
                            resources,
                            full=full,
                            concurrency=account.max_in_flight,
                            progress=_Bars(progress, account.name),
                        )
                    tables.append(_summary(account.name, results, failures))
                    ok = ok and not failures
    finally:
        await pool.close()
    for table in tables:
        out.print(table)
    return ok


def _age(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    seconds = int((datetime.now(UTC) - ts).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


async def show_status(settings: Settings, account_ref: str | None) -> None:
    """Print, per account and resource, the last pass, its mode, age and rows, the pass in progress, errors."""
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        async with pool.acquire() as conn:
            targets = (
                [await accounts.get_account(conn, account_ref)] if account_ref else await accounts.list_accounts(conn)
            )
            states = {(s.account_id, s.resource): s for s in await sync_state.list_states(conn)}
            backlog = await inbox.backlog(conn)
            failed = await inbox.list_failed(conn, None if account_ref is None else targets[0].id)
    finally:
        await pool.close()
    failed = [e for e in failed if e.key.account_id in {a.id for a in targets}]
    if not targets:
        out.print("no accounts yet: add one with `ashby-sync accounts add --name N --api-key K`")
        return
    table = Table("account", "resource", "last pass", "mode", "rows", "took", "in progress", "last error")
    for account in targets:
        for resource in RESOURCES:
            s = states.get((account.id, resource.name))
            if s is None:
                table.add_row(account.name, resource.name, "never", "-", "-", "-", "-", "-")
                continue
            took = f"{s.last_duration_ms / 1000:.1f}s" if s.last_duration_ms is not None else "-"
            running = f"{s.pass_mode} {s.pass_pages} pages" if s.in_progress else "-"
            error = f"[red]{s.last_error}[/] ({_age(s.last_error_at)})" if s.last_error else "-"
            table.add_row(
                account.name,
                resource.name,
                _age(s.last_success_at),
                s.last_mode or "-",
                str(s.last_rows) if s.last_rows is not None else "-",
                took,
                running,
                error,
            )
    out.print(table)
    for account in targets:
        pending, n_failed = backlog.get(account.id, (0, 0))
        note = f", [red]{n_failed} failed[/] (retried no more)" if n_failed else ""
        out.print(f"{account.name}: webhook inbox backlog {pending}{note}")
    if failed:
        names = {a.id: a.name for a in targets}
        events = Table(title="failed webhook events")
        for name in ("account", "action", "webhookActionId", "tries", "received"):
            events.add_column(name, no_wrap=True)
        events.add_column("last error", overflow="fold")
        for e in failed:
            events.add_row(
                names.get(e.key.account_id, str(e.key.account_id)),
                e.key.action,
                e.key.webhook_action_id,
                str(e.attempts),
                _age(e.received_at),
                f"[red]{escape(e.last_error or '-')}[/]",
            )
        out.print(events)
