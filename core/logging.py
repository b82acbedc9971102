"""The one logging setup: structlog for our events, stdlib records rendered through the same chain."""

import logging
import sys
from typing import TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import Processor


def configure_logging(as_json: bool, stream: TextIO = sys.stdout, level: int = logging.INFO) -> None:
    """Configure structlog and stdlib logging to write one line per event to `stream`."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Never frame locals in a traceback: they carry secrets, response bodies and candidate PII. (The console
    # renderer's default, rich's formatter, prints them; the plain one prints the standard traceback only.)
    tail: list[Processor] = (
        [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(),
        ]
        if as_json
        else [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    logging.basicConfig(handlers=[handler], level=level, force=True)
    # aiohttp's access log writes one line per request, with paths but never bodies; keep it quiet by default.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
