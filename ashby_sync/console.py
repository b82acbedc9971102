"""How CLI commands run: settings, logging, asyncio, and one-line errors instead of tracebacks."""

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import structlog
import typer
from pydantic import SecretStr
from rich.console import Console

from ashby_api.client import AshbyClient, new_session
from ashby_api.errors import AshbyForbidden, AshbyTransportError, AshbyUnauthorized
from core.config import Settings
from core.errors import AppError, ConfigError
from core.logging import configure_logging

T = TypeVar("T")

# Piped output (CI logs, files) gets room for whole tables instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
log = structlog.get_logger(__name__)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings(*, long_running: bool = False) -> Settings:
    """Settings from the environment, with logging configured (stderr; INFO for services, WARNING otherwise)."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        fail(str(exc), 2)
    debug = bool(os.environ.get("ASHBY_SYNC_DEBUG"))
    level = logging.DEBUG if debug else logging.INFO if long_running else logging.WARNING
    configure_logging(settings.log_format == "json", stream=sys.stderr, level=level)
    return settings


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion, turning our errors into a one-line message and a non-zero exit."""
    try:
        return asyncio.run(coro)
    except typer.Exit:  # a deliberate exit (`fail()` inside `coro`): its message is printed already
        raise
    except ConfigError as exc:
        fail(str(exc), 2)
    except AppError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:  # the CLI's top level: a user gets one line, the log gets the traceback
        log.debug("command_crashed", exc_info=True)
        fail(f"unexpected {exc.__class__.__name__}: {exc} (set ASHBY_SYNC_DEBUG=1 for the traceback)")


async def verify_api_key(base_url: str, api_key: SecretStr) -> list[str]:
    """The scopes of `api_key` per Ashby's apiKey.info; AppError with a clear message when Ashby refuses it."""
    async with new_session() as session:
        client = AshbyClient(session, base_url=base_url, api_key=api_key, timeout=15)
        try:
            info = await client.api_key_info()
        except (AshbyUnauthorized, AshbyForbidden) as exc:
            raise AppError(f"Ashby at {base_url} rejected the API key (HTTP {exc.status}): check --api-key") from exc
        except AshbyTransportError as exc:
            raise AppError(
                f"cannot reach Ashby at {base_url} ({exc}); use --no-verify to store the key anyway"
            ) from exc
    return list(info.scopes)
