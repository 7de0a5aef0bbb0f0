"""Every command has help text, and errors are one line without a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from maturity.cli import app
from tests.gitrepo import GitRepo


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


def test_help_lists_exactly_the_exportable_tables_and_the_sources_that_collect() -> None:
    import collectors
    from maturity import cli
    from maturity.store import export, names

    assert tuple(export.EXPORTABLE) == names.EXPORTABLE == cli.EXPORT_TABLES
    collecting = tuple(name for name, s in collectors.SOURCES.items() if s.collector)
    assert collecting == collectors.pulled() == cli.COLLECT_SOURCES
    # the cheap registry names every declaration, under the declaration's own name
    assert list(collectors.REGISTERED) == [s.name for s in collectors.SOURCES.values()]


def test_help_imports_neither_the_store_nor_the_sources() -> None:
    """What keeps 'maturity --help' fast: nothing heavy is imported to build the commands."""
    code = (
        "import sys, maturity.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'pandas', 'plotly', 'pydantic', "
        "'collectors.base', 'collectors.git', 'maturity.config', 'web', 'reports') "
        "if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


#: what a collection of git has no use for: scoring (pandas, numpy, the metrics), migrating
#: (alembic), pages and reports (plotly, jinja2, fastapi), the collectors of other sources, the
#: event models (events are ingested, not collected), and the ORM (it writes through Core)
NOT_FOR_A_GIT_COLLECTION = (
    "alembic",
    "collectors.events",
    "collectors.github.streams",
    "collectors.gitlab.streams",
    "collectors.jenkins.streams",
    "collectors.jira.streams",
    "fastapi",
    "jinja2",
    "maturity.metrics",
    "maturity.scoring",
    "maturity.snapshots",
    "maturity.store.export",
    "maturity.store.inputs",
    "maturity.store.scores",
    "maturity.store.tables",
    "numpy",
    "pandas",
    "plotly",
    "reports",
    "sqlalchemy.orm",
    "web",
)


@pytest.mark.integration
def test_a_collection_with_nothing_new_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    """What keeps a no-op 'maturity collect' of one git repository fast, read from
    ``sys.modules`` of the command itself: it imports neither scoring nor alembic nor the web."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit("first", {"a.txt": "a\n"})
    repo.commit("second", {"b.txt": "b\n"})
    cfg = tmp_path / "maturity.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "maturity.db"}"\n\n'
        f'[[teams]]\nname = "core"\nrepositories = ["{repo.path}"]\n',
        encoding="utf-8",
    )
    runner = (
        "import runpy, sys\n"
        f"sys.argv = ['maturity', '--config', {str(cfg)!r}, 'collect']\n"
        "try:\n"
        "    runpy.run_module('maturity', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print('imported:', sorted(m for m in {NOT_FOR_A_GIT_COLLECTION!r} if m in sys.modules))\n"
    )

    def collect() -> str:
        proc = subprocess.run(
            [sys.executable, "-c", runner],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    first = collect()  # creates the store (alembic) and reads the two commits
    assert re.search(r"\bsuccess\W+2\W", first), first
    again = collect()  # nothing new
    assert re.search(r"\bsuccess\W+0\W", again), again
    assert again.strip().splitlines()[-1] == "imported: []"


def test_choices_are_listed_in_help_and_checked(tmp_path: Path) -> None:
    from maturity import cli

    def maturity(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "maturity", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )

    helps = {
        ("collect",): list(cli.COLLECT_SOURCES),
        ("export",): ["commits", "metric_values", "csv", "jsonl"],
        ("report",): ["html", "md", "pdf"],
    }
    for command, choices in helps.items():
        text = maturity(*command, "--help").stdout
        for choice in choices:
            assert choice in text, (command, choice)
    # checked before anything else is read (here: no configuration file at all)
    wrong = maturity("collect", "--source", "svn")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        f"error: unknown source 'svn'; sources: {', '.join(cli.COLLECT_SOURCES)}"
    )
    assert (
        "'docx' is not one of 'html', 'md', 'pdf'"
        in maturity("report", "--team", "x", "--format", "docx").stderr
    )
