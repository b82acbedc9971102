"""`python -m ashby_sim`: the sandbox command on its own."""

import typer

from ashby_sim.command import sandbox_command

typer.run(sandbox_command)
