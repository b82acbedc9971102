"""`create_app(state)`: the sandbox's aiohttp application (Ashby's RPC endpoints plus `/_sim/*` admin routes)."""

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ashby_sim.admin import add_admin_routes
from ashby_sim.endpoints import Handler, build_read_handlers
from ashby_sim.faults import SimError
from ashby_sim.permissions import missing_scope
from ashby_sim.responses import REQUEST_ID_KEY, error_body, json_response, read_json
from ashby_sim.state import STATE_KEY, RequestRecord, SimState
from ashby_sim.writes import WRITE_HANDLERS

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "x-ashby-request-id"
HANDLERS: dict[str, Handler] = {**build_read_handlers(), **WRITE_HANDLERS}
_ERROR_STATUSES = (500, 502, 503)
MISSING_PERMISSION = "missing_endpoint_permission"


def _auth_failure(state: SimState, header: str | None, request_id: str) -> web.Response | None:
    """Basic auth, API key as username, any password: 401 when missing or malformed, 403 when wrong."""
    scheme, _, encoded = (header or "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode() if scheme.lower() == "basic" else ""
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if ":" not in decoded:
        body = error_body("unauthenticated", "Basic auth with your API key as the username is required", request_id)
        return json_response(body, status=401)
    if decoded.partition(":")[0] != state.api_key:
        return json_response(error_body("forbidden", "The API key is not valid", request_id), status=403)
    return None


@web.middleware
async def ashby_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Request id on every response; auth before anything else."""
    state = request.app[STATE_KEY]
    request_id = state.new_request_id()
    request[REQUEST_ID_KEY] = request_id
    failure = _auth_failure(state, request.headers.get("Authorization"), request_id)
    if failure is not None:
        response: web.StreamResponse = failure
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            code = "method_not_allowed" if exc.status == 405 else "not_found"
            response = json_response(error_body(code, exc.reason, request_id), status=exc.status)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


async def api(request: web.Request) -> web.Response:
    """POST /<endpoint>: faults (queued failures, 429/5xx rates), then the endpoint; answered after `latency_ms`."""
    state = request.app[STATE_KEY]
    request_id = request[REQUEST_ID_KEY]
    endpoint = request.match_info["endpoint"]
    handler = HANDLERS.get(endpoint)
    if handler is None:
        return json_response(error_body("not_found", f"unknown endpoint {endpoint}", request_id), status=404)
    started = asyncio.get_running_loop().time()
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        return await _answer(state, request, handler, endpoint, request_id, started)
    finally:
        state.in_flight -= 1


async def _answer(
    state: SimState, request: web.Request, handler: Handler, endpoint: str, request_id: str, started: float
) -> web.Response:
    body: dict[str, Any] = {}
    lacking = missing_scope(endpoint, state.faults.key_scopes)
    try:
        body = await read_json(request)
        response: web.Response | None
        if lacking is not None:  # a permission is checked with the key, before any fault
            response = _forbidden(lacking, endpoint, request_id)
        else:
            response = await _faulty(state, endpoint, request_id)
        if response is None:
            response = json_response(await handler(state, body))
    except SimError as exc:
        response = json_response(error_body(exc.code, exc.message, request_id, exc.errors))
        state.record_request(RequestRecord(endpoint, body, 200, exc.code, request_id))
        log.info("sim_request_failed", endpoint=endpoint, code=exc.code, request_id=request_id)
        await _pace(state, started)
        return response
    code = None if response.status == 200 else f"http_{response.status}"
    if lacking is not None:
        code = MISSING_PERMISSION
    state.record_request(RequestRecord(endpoint, body, response.status, code, request_id))
    await _pace(state, started)
    return response


async def _pace(state: SimState, started: float) -> None:
    """Hold the answer until `latency_ms` after the request arrived: the vendor's response time, work included."""
    if state.faults.latency_ms > 0:
        remaining = started + state.faults.latency_ms / 1000 - asyncio.get_running_loop().time()
        if remaining > 0:
            await asyncio.sleep(remaining)


def _forbidden(scope: str, endpoint: str, request_id: str) -> web.Response:
    """Ashby's answer to a key without the scope `endpoint` needs (`faults.key_scopes`)."""
    message = f"The API key lacks the {scope} permission that {endpoint} requires"
    return json_response(error_body(MISSING_PERMISSION, message, request_id), status=403)


async def _faulty(state: SimState, endpoint: str, request_id: str) -> web.Response | None:
    faults = state.faults
    queued = state.failures.take(endpoint)
    if queued is not None:
        if queued.code is not None:
            raise SimError(queued.code, f"simulated failure: {queued.code}")
        return _http_failure(queued.status, queued.retry_after, request_id)
    if faults.rate_429 > 0 and state.rng.random() < faults.rate_429:
        return _http_failure(429, faults.retry_after, request_id)
    if faults.rate_5xx > 0 and state.rng.random() < faults.rate_5xx:
        return _http_failure(state.rng.choice(_ERROR_STATUSES), None, request_id)
    return None


def _http_failure(status: int, retry_after: float | None, request_id: str) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    code = "rate_limit_exceeded" if status == 429 else "generic_internal_error"
    return json_response(error_body(code, f"simulated HTTP {status}", request_id), status=status, headers=headers)


def create_app(state: SimState) -> web.Application:
    """The sandbox app; it owns the webhook sender's ClientSession and background tasks (cleanup_ctx)."""
    app = web.Application(middlewares=[ashby_middleware], client_max_size=4 * 1024 * 1024)
    app[STATE_KEY] = state

    async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        state.sender.start(session)
        try:
            yield
        finally:
            await state.sender.close()
            await session.close()

    app.cleanup_ctx.append(sender_ctx)
    add_admin_routes(app)
    app.router.add_post("/{endpoint}", api)
    return app
