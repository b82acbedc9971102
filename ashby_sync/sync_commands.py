"""`ashby-sync sync` and `ashby-sync status`: passes run inline with progress, and what the mirror holds."""

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from ashby_api.client import new_session
from ashby_api.errors import AshbyTransportError
from ashby_api.resources import RESOURCES, Resource, SyncMode, get_resource
from ashby_sync.console import err, fail, out
from core.config import Settings
from core.errors import AppError
from store import accounts, inbox, mirror, sync_state
from store.accounts import Account
from store.pool import Pool, create_pool
from store.secrets import SecretBox
from store.sync_state import SyncState
from sync.accounts import account_context, sync_account
from sync.passes import SKIPPED_RUNNING, SKIPPED_SUPERSEDED, PassResult

NO_ACCOUNTS = "no accounts yet: add one with `ashby-sync accounts add --name N --api-key K`"


def parse_resources(names: Sequence[str]) -> list[Resource]:
    """The resources named on the command line (all when none), or a one-line error."""
    try:
        return [get_resource(n) for n in names] if names else list(RESOURCES)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)


@dataclass(slots=True)
class ResourceBar:
    """One resource's progress line. Its rate counts from the resource's first written page, not from the account's
    start: a resource may wait for a free slot or for its parent before its pass begins."""

    task: TaskID
    started: float  # when the first page landed (the clock of `ProgressBars`)
    first_rows: int  # rows of that first page

    def rate(self, rows: int, now: float) -> float:
        """Rows a second since the first page; 0 until a later page lands."""
        elapsed = now - self.started
        return (rows - self.first_rows) / elapsed if elapsed > 0 and rows > self.first_rows else 0.0


class ProgressBars:
    """One progress line per resource of one account: rows, pages and rows/s."""

    def __init__(self, progress: Progress, clock: Callable[[], float] = time.monotonic) -> None:
        self._progress = progress
        self._clock = clock
        self._bars: dict[str, ResourceBar] = {}

    def __call__(self, resource: str, rows: int, pages: int) -> None:
        now = self._clock()
        bar = self._bars.get(resource)
        if bar is None:
            task = self._progress.add_task(resource, total=None, rows=rows, pages=pages, rate=0.0)
            bar = self._bars[resource] = ResourceBar(task, now, rows)
        self._progress.update(bar.task, rows=rows, pages=pages, rate=bar.rate(rows, now))

    def finish(self, results: Sequence[PassResult]) -> None:
        """Show each completed pass's own rate: its rows over its duration, first page included."""
        for r in results:
            bar = self._bars.get(r.resource)
            if bar is not None and r.seconds > 0:
                self._progress.update(bar.task, rate=r.rows / r.seconds)


FULL_QUEUED = "; a full pass is queued"


def _failure(exc: BaseException, base_url: str) -> str:
    where = f" (Ashby at {base_url})" if isinstance(exc, AshbyTransportError) else ""
    return f"[red]failed[/]: {escape(f'{type(exc).__name__}: {exc}{where}')}"


def _summary(
    account: Account,
    results: list[PassResult],
    failures: list[tuple[str, BaseException]],
    full_queued: set[str],
) -> Table:
    table = Table(title=account.name)
    table.add_column("resource", no_wrap=True)
    for name in ("mode", "rows", "written", "deleted", "bad", "secs", "result"):
        table.add_column(name, justify="left" if name in ("mode", "result") else "right")
    for r in sorted(results, key=lambda r: r.resource):
        if r.mode == "skipped":
            note = f"skipped: {r.skipped or SKIPPED_RUNNING}" + (FULL_QUEUED if r.resource in full_queued else "")
            table.add_row(r.resource, "-", "-", "-", "-", "-", "-", f"[yellow]{note}[/]")
            continue
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
        table.add_row(name, "-", "-", "-", "-", "-", "-", _failure(exc, account.base_url))
    return table


async def _queue_full_passes(pool: Pool, account_id: uuid.UUID, results: Sequence[PassResult]) -> set[str]:
    """Make the next pass of each resource whose --full pass was skipped for another pass a full one (the worker's
    sweeper runs it); not of one the key may not read."""
    skipped = {r.resource for r in results if r.skipped in (SKIPPED_RUNNING, SKIPPED_SUPERSEDED)}
    if skipped:
        async with pool.acquire() as conn:
            for resource in sorted(skipped):
                await sync_state.request_full(conn, account_id, resource)
    return skipped


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
            raise AppError(NO_ACCOUNTS)
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
                    bars = ProgressBars(progress)
                    async with account_context(pool, session, box, account.id) as ctx:
                        results, failures = await sync_account(
                            ctx, resources, full=full, concurrency=account.max_in_flight, progress=bars
                        )
                    bars.finish(results)
                    queued = await _queue_full_passes(pool, account.id, results) if full else set()
                    tables.append(_summary(account, results, failures, queued))
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


def _pass_now(s: SyncState, running: bool) -> str:
    """The pass in progress, or why a checkpoint is left over (a pass failed or its process died)."""
    if not s.in_progress:
        return "-"
    if running:
        return f"in progress: {s.pass_mode} pass, {s.pass_pages} pages"
    if s.cursor is not None and get_resource(s.resource).mode is SyncMode.INCREMENTAL:
        return f"[yellow]interrupted after {s.pass_pages} pages[/] (resumes on the next pass)"
    return "[yellow]interrupted[/] (starts over on the next pass)"


async def show_status(settings: Settings, account_ref: str | None) -> None:
    """Print, per account and resource: the last pass (mode, age, rows, duration), the rows mirrored, the pass in
    progress and the last error; then the webhook inbox backlog."""
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        async with pool.acquire() as conn:
            targets = (
                [await accounts.get_account(conn, account_ref)] if account_ref else await accounts.list_accounts(conn)
            )
            states = {(s.account_id, s.resource): s for s in await sync_state.list_states(conn)}
            backlog = await inbox.backlog(conn)
            failed = await inbox.list_failed(conn, None if account_ref is None else targets[0].id)
            mirrored = {(a.id, r.name): await mirror.count_rows(conn, r.name, a.id) for a in targets for r in RESOURCES}
            ids = {a.id for a in targets}
            running = {
                key
                for key, s in states.items()
                if key[0] in ids and s.in_progress and await sync_state.pass_running(conn, *key)
            }
    finally:
        await pool.close()
    failed = [e for e in failed if e.key.account_id in ids]
    if not targets:
        out.print(NO_ACCOUNTS)
        return
    table = Table("account", Column("resource", no_wrap=True), "last pass", "mode")
    for name in ("last pass rows", "mirrored", "took"):  # rows the last pass read; live rows the mirror holds now
        table.add_column(name, justify="right")
    table.add_column("pass now")
    table.add_column("last error", overflow="fold")
    for account in targets:
        for resource in RESOURCES:
            key = (account.id, resource.name)
            s = states.get(key)
            if s is None:
                table.add_row(account.name, resource.name, "never", "-", "-", str(mirrored[key]), "-", "-", "-")
                continue
            took = f"{s.last_duration_ms / 1000:.1f}s" if s.last_duration_ms is not None else "-"
            error = f"[red]{escape(s.last_error)}[/] ({_age(s.last_error_at)})" if s.last_error else "-"
            table.add_row(
                account.name,
                resource.name,
                _age(s.last_success_at),
                s.last_mode or "-",
                str(s.last_rows) if s.last_rows is not None else "-",
                str(mirrored[key]),
                took,
                _pass_now(s, key in running),
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
