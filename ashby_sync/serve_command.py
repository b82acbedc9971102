"""`ashby-sync serve`: the webhook receiver, health, readiness and metrics, until SIGINT/SIGTERM."""

import errno
from typing import Annotated

import typer

from ashby_sync.console import fail, load_settings
from core.errors import AppError, ConfigError
from webhooks.app import run_receiver


def serve_command(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Interface to listen on. The default serves only this machine (behind a reverse proxy or tunnel); "
            "use 0.0.0.0 to accept Ashby's deliveries directly, e.g. in a container.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Receive Ashby webhooks at POST /webhooks/ashby/<account id>; also GET /healthz, /readyz and /metrics.

    Needs DATABASE_URL, REDIS_URL and ASHBY_SYNC_SECRET_KEY. Tuning: WEBHOOK_MAX_BODY_BYTES (1 MiB),
    WEBHOOK_SECRET_CACHE_SECONDS (5), WEBHOOK_BATCH_MAX (256), WEBHOOK_BATCH_WAIT_MS (0).
    """
    settings = load_settings(long_running=True)
    try:
        run_receiver(settings, host=host, port=port)
    except ConfigError as exc:
        fail(str(exc), 2)
    except AppError as exc:  # e.g. Postgres unreachable at startup
        fail(str(exc))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"cannot listen on {host}:{port}: the port is in use (choose another with --port)")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
