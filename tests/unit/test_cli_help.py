"""Every command has help text, and errors are one line without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main

from maturity.cli import app


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # typer vendors its own click; walk it by shape rather than by class.
    found = [prefix]
    if hasattr(group, "commands"):
        for name, cmd in group.commands.items():
            found += _commands(cmd, (*prefix, name))
    return found


def test_every_command_has_help_text() -> None:
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert len(paths) > 5
    for path in paths:
        cmd: Any = root
        for name in path:
            cmd = cmd.commands[name]
        assert (cmd.help or "").strip(), f"'maturity {' '.join(path)}' has no help text"
        for param in cmd.params:
            if param.param_type_name == "option" and param.name != "help":
                assert (param.help or "").strip(), f"{path} option {param.name} has no help"


def test_error_is_one_line_with_nonzero_exit(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "maturity", "--config", str(tmp_path / "absent.toml"), "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'absent.toml'}: no such configuration file "
        "(run 'maturity init' to write one)"
    ]
    assert "Traceback" not in proc.stderr
