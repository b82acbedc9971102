"""`python -m webhooks [--host H] [--port P]`: the receiver on its own (the same app as `ashby-sync serve`)."""

import argparse
import sys

from core.config import Settings
from core.errors import AppError
from core.logging import configure_logging
from webhooks.app import run_receiver

parser = argparse.ArgumentParser(prog="python -m webhooks", description="The Ashby webhook receiver.")
parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
args = parser.parse_args()
try:
    settings = Settings.from_env()
    configure_logging(settings.log_format == "json", stream=sys.stderr)
    run_receiver(settings, host=args.host, port=args.port)
except (AppError, OSError) as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
