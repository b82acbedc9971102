"""The collector settings every long-running process applies at start-up."""

import gc
import subprocess
import sys

from core.heap import YOUNG_GENERATION, tune_for_service


def test_tune_for_service_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_for_service()
        assert gc.get_threshold()[0] == YOUNG_GENERATION
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_console_script_applies_it() -> None:
    code = "import gc, sys; from ashby_sync.cli import main; sys.argv = ['ashby-sync', '--help']\n"
    code += "try:\n    main()\nexcept SystemExit:\n    pass\nprint(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"{YOUNG_GENERATION} True"
