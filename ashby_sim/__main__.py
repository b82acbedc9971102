"""`python -m ashby_sim`: the sandbox command on its own."""

import typer

from ashby_sim.command import sandbox_command
from core.heap import tune_for_service

tune_for_service()
typer.run(sandbox_command)
