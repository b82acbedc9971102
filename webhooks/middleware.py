"""Per-request logging context and the last line of defence against unexpected errors."""

import itertools
import secrets

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from structlog.contextvars import bind_contextvars, clear_contextvars

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"

# Request ids: 32 hex digits, a random half for the process (another process, or this one restarted, never repeats
# one) and a counter. Unique is all they need to be; a random id per request cost a system call each.
_PROCESS_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS_PREFIX}{next(_request_numbers):016x}"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a fresh `request_id` (Ashby sends none) for every log line of the request; echo it in a header."""
    clear_contextvars()  # a keep-alive connection serves many requests in one task: start each one clean
    request_id = new_request_id()
    bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    except Exception:  # the top level of a request: log it (no body, no locals) and answer 500
        log.exception("request_failed", method=request.method, path=request.path)
        response = web.json_response({"status": "internal_error"}, status=500)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response
