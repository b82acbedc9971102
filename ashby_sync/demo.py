"""`ashby-sync demo`: sandbox, database, account, full sync, webhooks through the receiver and worker, end to end."""

import asyncio
import contextlib
import os
import uuid
from typing import Annotated

import typer
from aiohttp import web
from pydantic import SecretStr
from rich.table import Table

from ashby_api.client import AshbyClient, new_session
from ashby_api.resources import RESOURCES
from ashby_sim.command import start_sandbox
from ashby_sim.state import SimState
from ashby_sync.console import load_settings, out, run
from ashby_sync.sync_commands import run_sync
from core.config import Settings
from store import accounts, inbox, mirror
from store.candidates import search_candidates
from store.errors import AccountNotFoundError
from store.migrate import migrate
from store.pool import connect, create_pool
from store.secrets import SecretBox, generate_key
from sync.accounts import account_context
from sync.webhook_registration import register_webhooks
from webhooks.app import create_app as create_receiver
from worker.settings import build_worker

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
    async with new_session() as session:
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

    _step(6, "Starting the webhook receiver and registering Ashby webhooks that point at it")
    receiver = web.AppRunner(create_receiver(settings), access_log=None)
    await receiver.setup()
    site = web.TCPSite(receiver, "127.0.0.1", 0)
    await site.start()
    receiver_url = f"http://127.0.0.1:{receiver.addresses[0][1]}"
    try:
        await _webhooks(settings, state, account.id, box, receiver_url)
    finally:
        await receiver.cleanup()

    _step(9, "Incremental sync: the backstop for anything a webhook missed")
    await run_sync(settings, DEMO_ACCOUNT, list(RESOURCES), full=False)

    _step(10, "Reading the mirror")
    await _show_mirror(settings, account.id)


async def _webhooks(settings: Settings, state: SimState, account_id: uuid.UUID, box: SecretBox, url: str) -> None:
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        async with new_session() as session, account_context(pool, session, box, account_id) as ctx:
            registered = await register_webhooks(ctx, box, url)
        enabled = sum(1 for r in registered if r.enabled)
        out.print(f"   receiver at {url}; {enabled} of {len(registered)} webhook types registered and enabled")

        _step(7, "Changing records in Ashby: 3 candidates renamed, 1 application moved, 1 offer accepted")
        application_id, offer_id = _mutate(state)
        async with asyncio.timeout(30):
            await state.wait_deliveries_idle()
        delivered = sum(1 for d in state.deliveries if d.outcome == "delivered" and d.action != "ping")
        out.print(f"   Ashby delivered {delivered} signed webhooks; each was verified and committed before the 200")
        out.print("   (Ashby sends no webhook for a candidate edit: the renames reach the mirror by sync, step 9)")

        _step(8, "The worker applies the stored events to the mirror")
        worker = build_worker(settings, burst=True, crons=False)
        try:
            jobs = await worker.run_check()
        finally:
            await worker.close()
        async with pool.acquire() as conn:
            counts = await inbox.status_counts(conn, account_id)
            application = (await mirror.get_raw(conn, "applications", account_id, [application_id]))[application_id]
            offer = (await mirror.get_raw(conn, "offers", account_id, [offer_id]))[offer_id]
        out.print(
            f"   {counts.get(inbox.APPLIED, 0)} events applied by {jobs} drain job(s);"
            f" inbox backlog {counts.get(inbox.PENDING, 0)}, failed {counts.get(inbox.FAILED, 0)}"
        )
        out.print(
            f"   mirror: application {application_id} is now at '{application['currentInterviewStage']['title']}'"
        )
        out.print(f"   mirror: offer {offer_id} is {offer['acceptanceStatus']} ({offer['offerStatus']})")
    finally:
        await pool.close()


def _mutate(state: SimState) -> tuple[str, str]:
    """Change records in the sandbox; returns the ids of the moved application and the accepted offer."""
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
    return application["id"], offer["id"]


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
