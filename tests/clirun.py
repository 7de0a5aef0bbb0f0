"""Running the ``maturity`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_maturity(
    cfg: Path, *args: str, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``maturity --config CFG ARGS`` in CFG's folder, with a wide terminal for tables (and a
    ``timeout`` in seconds, past which the test fails instead of hanging)."""
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "maturity", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cfg.parent,
        timeout=timeout,
    )
