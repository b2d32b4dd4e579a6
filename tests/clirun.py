"""`customer-sync` as a user runs it: its own process, from the checkout, in an environment
without this machine's own VIVENU_/CUSTOMER_SYNC_ variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "pipelines.cli"]


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without the project's variables, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    return {**env, **variables}


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`customer-sync ARGS`, run to its end, its output captured as text."""
    return subprocess.run(
        [*COMMAND, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
