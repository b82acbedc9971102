import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from core.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put structlog's and the root logger's configuration back as the test found them."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def fail_holding(candidate_email: str) -> None:
    raise ValueError("boom")


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("as_json", [False, True])
def test_a_logged_traceback_never_shows_frame_locals(as_json: bool) -> None:
    stream = io.StringIO()
    email = "-".join(["jane", "secret@example.com"])  # built at run time: only frame locals can show it
    configure_logging(as_json, stream=stream)
    try:
        fail_holding(email)
    except ValueError:
        structlog.get_logger("test").exception("job_failed")
    try:
        fail_holding(email)
    except ValueError:
        logging.getLogger("arq.worker").exception("job failed")  # a library's record, through the same chain
    out = stream.getvalue()
    assert out.count("fail_holding") >= 2  # both tracebacks are there, down to the frame that raised
    assert "jane-secret" not in out
