"""`/_sim/*` admin routes: the test switches and mutations, for callers in another process (bench, CLI, demo)."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ashby_sim.faults import SimError
from ashby_sim.responses import REQUEST_ID_KEY, error_body, json_response, read_json
from ashby_sim.state import STATE_KEY, SimState

# SimState methods `POST /_sim/mutate/<name>` may call, with the JSON body as keyword arguments.
MUTATIONS = frozenset(
    {
        "update_candidate",
        "create_candidate",
        "delete_candidate",
        "merge_candidates",
        "add_tag",
        "anonymize_candidate",
        "change_stage",
        "hire",
        "change_source",
        "update_application",
        "transfer_application",
        "create_application",
        "create_job",
        "create_opening",
        "create_interview_schedule",
        "set_offer_status",
        "delete_offer",
        "delete_job_posting",
    }
)


Action = Callable[[web.Request, SimState], Awaitable[Any]]


def _guarded(fn: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            return json_response({"success": True, "results": await fn(request, request.app[STATE_KEY])})
        except SimError as exc:
            return json_response(error_body(exc.code, exc.message, request[REQUEST_ID_KEY]), status=400)
        except TypeError as exc:  # wrong keyword arguments for a mutation
            return json_response(error_body("invalid_input", str(exc), request[REQUEST_ID_KEY]), status=400)

    return handle


async def faults(request: web.Request, state: SimState) -> Any:
    if request.method == "POST":
        state.faults.update(await read_json(request))
    return state.faults.as_dict()


async def fail_next(request: web.Request, state: SimState) -> Any:
    body = await read_json(request)
    endpoint = body.pop("endpoint", None)
    if not isinstance(endpoint, str):
        raise SimError("invalid_input", "endpoint is required")
    state.fail_next(endpoint, **body)
    return {"endpoint": endpoint}


async def expire_sync_tokens(request: web.Request, state: SimState) -> Any:
    state.expire_sync_tokens()
    return {}


async def expire_cursors(request: web.Request, state: SimState) -> Any:
    state.expire_cursors()
    return {}


async def touch(request: web.Request, state: SimState) -> Any:
    body = await read_json(request)
    resource, target = body.get("resource"), body.get("ids", body.get("count", 1))
    if not isinstance(resource, str) or not isinstance(target, (int, list)):
        raise SimError("invalid_input", "resource and count (or ids) are required")
    return {"ids": state.touch(resource, target)}


async def mutate(request: web.Request, state: SimState) -> Any:
    name = request.match_info["name"]
    if name not in MUTATIONS:
        raise SimError("invalid_input", f"unknown mutation {name!r}")
    result = getattr(state, name)(**await read_json(request))
    return result if result is not None else {}


async def requests(request: web.Request, state: SimState) -> Any:
    counts = state.request_counts()
    return {"counts": counts, "total": sum(counts.values())}


async def reset_requests(request: web.Request, state: SimState) -> Any:
    state.reset_request_log()
    return {}


async def deliveries(request: web.Request, state: SimState) -> Any:
    return [
        {"webhookId": d.webhook_id, "action": d.action, "webhookActionId": d.webhook_action_id,
         "attempt": d.attempt, "status": d.status, "outcome": d.outcome, "duplicate": d.duplicate}
        for d in state.deliveries
    ]  # fmt: skip


async def stats(request: web.Request, state: SimState) -> Any:
    return {"counts": state.records.u.count, **state.records.stats(), "webhooks": len(state.webhooks)}


def add_admin_routes(app: web.Application) -> None:
    router = app.router
    router.add_route("*", "/_sim/faults", _guarded(faults))
    router.add_post("/_sim/fail_next", _guarded(fail_next))
    router.add_post("/_sim/expire_sync_tokens", _guarded(expire_sync_tokens))
    router.add_post("/_sim/expire_cursors", _guarded(expire_cursors))
    router.add_post("/_sim/touch", _guarded(touch))
    router.add_post("/_sim/mutate/{name}", _guarded(mutate))
    router.add_get("/_sim/requests", _guarded(requests))
    router.add_post("/_sim/reset_requests", _guarded(reset_requests))
    router.add_get("/_sim/deliveries", _guarded(deliveries))
    router.add_get("/_sim/stats", _guarded(stats))
