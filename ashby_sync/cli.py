"""The `ashby-sync` console script: one command per process, wiring only."""

from typing import Annotated

import typer
from pydantic import SecretStr
from rich.table import Table

from ashby_sim.command import sandbox_command
from ashby_sync import demo
from ashby_sync.console import fail, load_settings, out, run, verify_api_key
from ashby_sync.serve_command import serve_command
from ashby_sync.sync_commands import parse_resources, run_sync, show_status
from ashby_sync.webhooks_commands import webhooks_app
from ashby_sync.worker_command import check_worker, run_worker
from core.config import Settings
from core.heap import tune_for_service
from store import accounts as accounts_store
from store.migrate import migrate
from store.pool import connect
from store.secrets import SecretBox, generate_key

app = typer.Typer(
    help="Keep Ashby orgs in sync with a Postgres mirror: webhooks, incremental sync, events and an MCP server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="The Postgres schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Connected Ashby orgs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(webhooks_app, name="webhooks")
app.command("sandbox", help="Run the simulated Ashby API (seeded, deterministic) for tests and demos.")(sandbox_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve_command)


@app.command()
def keygen() -> None:
    """Print a new key for ASHBY_SYNC_SECRET_KEY (encrypts API keys and webhook secrets at rest)."""
    out.print(generate_key())


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the database in DATABASE_URL if missing and apply schema.sql (safe to run repeatedly)."""
    settings = load_settings()
    version = run(migrate(settings.database_url))
    out.print(f"schema is at version {version}")


@accounts_app.command("add")
def accounts_add(
    name: Annotated[str, typer.Option("--name", help="A short name for this Ashby org, used by other commands.")],
    api_key: Annotated[str, typer.Option("--api-key", help="The org's Ashby API key (stored encrypted).")],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Ashby API base URL (default: ASHBY_BASE_URL or Ashby's).")
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option("--webhook-secret", help="A secret you typed into Ashby's webhook settings by hand."),
    ] = None,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight",
            min=1,
            max=64,
            help="Most requests in flight to this org at once, across every worker and command.",
        ),
    ] = 4,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the key with Ashby (apiKey.info) before storing it.")
    ] = True,
) -> None:
    """Connect an Ashby org: its API key and webhook secret are encrypted with ASHBY_SYNC_SECRET_KEY."""
    settings = load_settings()
    if not name.strip():
        fail("--name must not be empty", 2)
    if not api_key.strip():
        fail("--api-key must not be empty", 2)
    resolved_url = base_url or settings.ashby_base_url
    if verify:
        scopes = run(verify_api_key(resolved_url, SecretStr(api_key.strip())))
        out.print(f"Ashby accepted the key; it may read: {', '.join(scopes) or 'nothing'}")
    account = run(
        _add_account(
            settings,
            name=name.strip(),
            api_key=SecretStr(api_key.strip()),
            base_url=resolved_url,
            webhook_secret=SecretStr(webhook_secret) if webhook_secret else None,
            max_in_flight=max_in_flight,
        )
    )
    out.print(f"added account [bold]{account.name}[/] ({account.id}) at {account.base_url}")


async def _add_account(
    settings: Settings,
    *,
    name: str,
    api_key: SecretStr,
    base_url: str,
    webhook_secret: SecretStr | None,
    max_in_flight: int,
) -> accounts_store.Account:
    box = SecretBox(settings.secret_key())
    conn = await connect(settings.database_url)
    try:
        return await accounts_store.add_account(
            conn,
            box,
            name=name,
            api_key=api_key,
            base_url=base_url,
            webhook_secret=webhook_secret,
            max_in_flight=max_in_flight,
        )
    finally:
        await conn.close()


@accounts_app.command("remove")
def accounts_remove(
    name: Annotated[str, typer.Option("--name", help="Name or id of the account to remove.")],
) -> None:
    """Disconnect an Ashby org and delete everything mirrored for it."""
    settings = load_settings()
    account = run(_remove_account(settings, name))
    out.print(f"removed account [bold]{account.name}[/] ({account.id}) and its mirror")


async def _remove_account(settings: Settings, name: str) -> accounts_store.Account:
    conn = await connect(settings.database_url)
    try:
        return await accounts_store.remove_account(conn, name)
    finally:
        await conn.close()


@accounts_app.command("list")
def accounts_list() -> None:
    """List connected Ashby orgs (secrets are never shown)."""
    settings = load_settings()
    rows = run(_list_accounts(settings))
    if not rows:
        out.print("no accounts yet: add one with `ashby-sync accounts add --name N --api-key K`")
        return
    table = Table("name", "id", "base url", "in flight", "webhook secret", "created")
    for a in rows:
        table.add_row(
            a.name,
            str(a.id),
            a.base_url,
            str(a.max_in_flight),
            "set" if a.has_webhook_secret else "-",
            a.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


async def _list_accounts(settings: Settings) -> list[accounts_store.Account]:
    conn = await connect(settings.database_url)
    try:
        return await accounts_store.list_accounts(conn)
    finally:
        await conn.close()


# Flags below get metavar="": without it typer's help shows them as taking a <bool> value, which they do not.
AccountFilter = Annotated[
    str | None, typer.Option("--account", metavar="NAME", help="Account name or id (default: every account).")
]


@app.command()
def sync(
    account: AccountFilter = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            metavar="RESOURCE",
            help="Resource to sync, e.g. candidates (repeatable; default: all).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            metavar="",
            help="Re-read everything instead of changes since the last pass. A resource whose pass another process"
            " is running is skipped, and its next pass is made full.",
        ),
    ] = False,
) -> None:
    """Run sync passes now, with a progress bar per resource; exits 1 when a pass fails."""
    settings = load_settings()
    resources = parse_resources(resource or [])
    if not run(run_sync(settings, account, resources, full)):
        raise typer.Exit(1)


@app.command()
def status(account: AccountFilter = None) -> None:
    """Per account and resource: the last completed pass (age, mode, rows, duration), the rows mirrored now, the pass
    in progress or left interrupted, and the last error; then each account's webhook inbox backlog."""
    settings = load_settings()
    run(show_status(settings, account))


@app.command()
def worker(
    burst: Annotated[bool, typer.Option("--burst", metavar="", help="Run the jobs queued now, then exit.")] = False,
    check: Annotated[bool, typer.Option("--check", metavar="", help="Exit 0 if a worker is alive, 1 if not.")] = False,
) -> None:
    """The arq worker: sync passes and webhook drains, a cron of incremental passes, and sweepers that re-enqueue
    what Postgres says is due (Redis losing its queue loses nothing)."""
    settings = load_settings(long_running=True)
    if check:
        alive = check_worker(settings)
        out.print("worker is alive" if alive else "no live worker")
        raise typer.Exit(0 if alive else 1)
    run_worker(settings, burst=burst)


def main() -> None:
    """Entry point of the console script."""
    tune_for_service()
    app()
