"""`ashby-sync demo`: the sandbox, a migrated database, an account, a full and an incremental sync, end to end."""

import contextlib
import os
import uuid
from typing import Annotated

import aiohttp
import typer
from pydantic import SecretStr
from rich.table import Table

from ashby_api.client import AshbyClient
from ashby_api.resources import RESOURCES
from ashby_sim.command import start_sandbox
from ashby_sim.state import SimState
from ashby_sync.console import load_settings, out, run
from ashby_sync.sync_commands import run_sync
from core.config import Settings
from store import accounts, mirror
from store.candidates import search_candidates
from store.errors import AccountNotFoundError
from store.migrate import migrate
from store.pool import connect
from store.secrets import SecretBox, generate_key

DEMO_ACCOUNT = "sandbox-demo"


def _step(n: int, text: str) -> None:
    out.print(f"\n[bold cyan]{n}.[/] [bold]{text}[/]")


async def _demo(settings: Settings, candidates: int, seed: int) -> None:
    _step(1, f"Starting the Ashby sandbox ({candidates:,} candidates, seed {seed})")
    state = SimState(seed=seed, candidates=candidates)
    runner = await start_sandbox(state, "127.0.0.1", 0)
    try:
        out.print(f"   serving Ashby's API at {state.base_url}")
        await _with_sandbox(settings, state)
    finally:
        await runner.cleanup()


async def _with_sandbox(settings: Settings, state: SimState) -> None:
    _step(2, "Migrating the database")
    version = await migrate(settings.database_url)
    out.print(f"   schema version {version} in {settings.database_url.rsplit('@', 1)[-1]}")

    _step(3, f"Connecting the sandbox as account '{DEMO_ACCOUNT}'")
    box = SecretBox(settings.secret_key())
    conn = await connect(settings.database_url)
    try:
        with contextlib.suppress(AccountNotFoundError):  # a previous demo's account and its mirror
            await accounts.remove_account(conn, DEMO_ACCOUNT)
        account = await accounts.add_account(
            conn, box, name=DEMO_ACCOUNT, api_key=SecretStr(state.api_key), base_url=state.base_url
        )
    finally:
        await conn.close()
    out.print(f"   account id {account.id}; API key stored encrypted")

    _step(4, "Fetching a first page of candidates from Ashby")
    async with aiohttp.ClientSession() as session:
        client = AshbyClient(session, base_url=state.base_url, api_key=state.api_key)
        key = await client.api_key_info()
        page = await client.list_candidates(limit=5)
    out.print(f"   API key '{key.title}' may read: {', '.join(key.scopes)}")
    table = Table("id", "name", "email", "updated")
    for c in page.results:
        email = c.primary_email_address.value if c.primary_email_address else "-"
        table.add_row(c.id, c.name or "-", email or "-", c.updated_at.isoformat() if c.updated_at else "-")
    out.print(table)

    _step(5, "Full sync of every resource into the Postgres mirror")
    await run_sync(settings, DEMO_ACCOUNT, list(RESOURCES), full=False)

    _step(6, "Changing records in Ashby: 3 candidates renamed, 1 application moved, 1 offer accepted")
    _mutate(state)

    _step(7, "Incremental sync: only what changed is fetched")
    await run_sync(settings, DEMO_ACCOUNT, list(RESOURCES), full=False)

    _step(8, "Reading the mirror")
    await _show_mirror(settings, account.id)


def _mutate(state: SimState) -> None:
    for cid in state.ids("candidates")[:3]:
        state.update_candidate(cid, name=f"Renamed Demo {cid[:4]}")
    application = next(a for a in state.all_records("applications") if a["status"] == "Active")
    stage = application["currentInterviewStage"]
    target = next(
        s
        for s in state.all_records("interview_stages")
        if s["interviewPlanId"] == stage["interviewPlanId"] and s["id"] != stage["id"] and s["type"] == "Active"
    )
    state.change_stage(application["id"], target["id"])
    offer = next(o for o in state.all_records("offers") if o["acceptanceStatus"] != "Accepted")
    state.set_offer_status(offer["id"], "Accepted")
    out.print(f"   offer {offer['id']} accepted")


async def _show_mirror(settings: Settings, account_id: uuid.UUID) -> None:
    conn = await connect(settings.database_url)
    try:
        counts = Table("table", "live rows", "deleted")
        for name in ("candidates", "applications", "jobs", "offers", "users", "interview_stages"):
            live = await mirror.count_rows(conn, name, account_id)
            every = await mirror.count_rows(conn, name, account_id, include_deleted=True)
            counts.add_row(name, f"{live:,}", str(every - live))
        out.print(counts)
        offers = await mirror.get_raw(conn, "offers", account_id)
        accepted = sorted(i for i, o in offers.items() if o.get("acceptanceStatus") == "Accepted")
        out.print(f"   {len(accepted)} accepted offers in the mirror, e.g. {accepted[:2]}")
        hits = await search_candidates(conn, account_id, "renamed demo")
        out.print(f"   full-text search for 'renamed demo' finds: {[h.name for h in hits]}")
    finally:
        await conn.close()


def demo_command(
    candidates: Annotated[int, typer.Option(help="Size of the sandbox org.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox org.")] = 7,
) -> None:
    """Run everything end to end against the sandbox and print what happened at each step."""
    settings = load_settings()
    if settings.ashby_sync_secret_key is None:
        key = generate_key()
        os.environ["ASHBY_SYNC_SECRET_KEY"] = key
        settings = settings.model_copy(update={"ashby_sync_secret_key": SecretStr(key)})
        out.print("ASHBY_SYNC_SECRET_KEY is not set: the demo uses a throwaway key (see `ashby-sync keygen`)")
    run(_demo(settings, candidates, seed))
