"""tests/clirun.run: a ``python -m maturity`` call through the fork server gives what a new
interpreter gives (streams, exit code, folder, environment, input, timeout), and is faster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import clirun

pytestmark = pytest.mark.integration


def _both(cmd: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess, ...]:
    forked = clirun.run(cmd, **kwargs)  # type: ignore[arg-type]
    plain = subprocess.run(cmd, **kwargs)  # type: ignore[call-overload]
    return forked, plain


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "maturity.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "m.db"}"\n', encoding="utf-8")
    return path


def test_the_fork_server_serves_maturity_calls() -> None:
    if os.environ.get("MATURITY_TEST_NO_ZYGOTE"):
        assert clirun._server() is None
        return
    server = clirun._server()
    assert server is not None and server.serves(dict(os.environ))
    # an interpreter-start variable the server was not started with: a plain subprocess
    assert not server.serves({**os.environ, "PYTHONHASHSEED": "7"})


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["survey", "list"],
        ["status"],
        ["no-such-command"],
        ["survey", "open", "--team", "payments", "--k", "2"],
    ],
)
def test_output_and_exit_code_are_those_of_a_new_interpreter(cfg: Path, args: list[str]) -> None:
    cmd = [*clirun.MATURITY, "--config", str(cfg), *args]
    env = {**os.environ, "COLUMNS": "120"}
    forked, plain = _both(cmd, capture_output=True, text=True, cwd=cfg.parent, env=env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )


def test_folder_environment_and_input_reach_the_command(tmp_path: Path) -> None:
    # no --config: the command reads maturity.toml in its working folder, the store from the
    # environment and the events from its standard input
    (tmp_path / "maturity.toml").write_text("[settings]\nwindow_days = 30\n", encoding="utf-8")
    env = {**os.environ, "MATURITY_DATABASE_URL": f"sqlite:///{tmp_path / 'from-env.db'}"}
    clirun.run([*clirun.MATURITY, "db", "upgrade"], env=env, cwd=tmp_path, check=True)
    event = (
        '{"kind": "deployment", "id": "d1", "service": "api", "environment": "production",'
        ' "status": "success", "started_at": "2026-11-02T10:00:00+00:00"}\n'
    )
    cmd = [*clirun.MATURITY, "ingest", "-"]
    forked = clirun.run(cmd, input=event, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert forked.returncode == 0, forked.stderr
    assert "ingested 0 builds, 1 deployments" in forked.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["from-env.db", "maturity.toml"]


def test_stderr_into_stdout_and_check(cfg: Path) -> None:
    cmd = [*clirun.MATURITY, "--config", str(cfg), "no-such-command"]
    merged = clirun.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cfg.parent)
    assert isinstance(merged.stdout, bytes) and b"No such command" in merged.stdout
    assert merged.stderr is None
    with pytest.raises(subprocess.CalledProcessError) as failed:
        clirun.run(cmd, capture_output=True, text=True, check=True, cwd=cfg.parent)
    assert failed.value.returncode == 2


def test_a_call_past_its_timeout_is_killed_and_raises(tmp_path: Path) -> None:
    # `maturity ingest -` on a standard input that never ends waits until it is killed
    (tmp_path / "maturity.toml").write_text("[settings]\nwindow_days = 30\n", encoding="utf-8")
    env = {**os.environ, "MATURITY_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    read, write = os.pipe()
    try:
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            clirun.run(
                [*clirun.MATURITY, "ingest", "-"],
                stdin=read,
                capture_output=True,
                env=env,
                cwd=tmp_path,
                timeout=0.3,
            )
        assert time.monotonic() - started < 20
        # the killed call left nothing waiting: the next one is answered at once
        again = clirun.run([*clirun.MATURITY, "--help"], capture_output=True, cwd=tmp_path)
        assert again.returncode == 0
    finally:
        os.close(read)
        os.close(write)


def test_pythonpath_of_the_call_is_on_its_path(tmp_path: Path) -> None:
    # `python -m maturity` takes the package from PYTHONPATH first, as a new interpreter does,
    # and the working folder is the first entry of its path
    shadow = tmp_path / "shadow" / "maturity"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text("import sys\nprint('shadow', sys.path[0])\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    forked, plain = _both(
        [sys.executable, "-m", "maturity"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert forked.stdout == plain.stdout == f"shadow {tmp_path}\n"


def _ingest_folder(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "maturity.toml").write_text("[settings]\nwindow_days = 30\n", encoding="utf-8")
    env = {**os.environ, "MATURITY_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    clirun.run([*clirun.MATURITY, "db", "upgrade"], env=env, cwd=tmp_path, check=True)
    return env


def test_popen_pipes_poll_wait_and_signals_are_those_of_a_new_process(tmp_path: Path) -> None:
    env = _ingest_folder(tmp_path)
    cmd = [*clirun.MATURITY, "ingest", "-"]
    event = (
        '{"kind": "deployment", "id": "d2", "service": "api", "environment": "production",'
        ' "status": "success", "started_at": "2026-11-03T10:00:00+00:00"}\n'
    )
    answers = []
    for start in (clirun.popen, subprocess.Popen):
        proc = start(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert proc.poll() is None  # waiting for its input
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
        out, err = proc.communicate(event, timeout=60)
        answers.append((proc.returncode, out, err))
    assert answers[0] == answers[1]
    assert answers[0][0] == 0 and "1 deployments" in answers[0][1]

    ended = []
    for start in (clirun.popen, subprocess.Popen):
        proc = start(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
        proc.terminate()
        ended.append(proc.wait(timeout=60))
        assert proc.stdin is not None
        proc.stdin.close()
    assert ended == [-15, -15]


def test_a_popen_child_is_the_fork_servers_unless_told_otherwise(tmp_path: Path) -> None:
    env = _ingest_folder(tmp_path)
    proc = clirun.popen(
        [*clirun.MATURITY, "ingest", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if os.environ.get("MATURITY_TEST_NO_ZYGOTE"):
            assert isinstance(proc, subprocess.Popen) and parent == os.getpid()
        else:
            server = clirun._server()
            assert server is not None
            assert isinstance(proc, clirun.ForkedPopen) and parent == server.proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=60)
        assert proc.stdin is not None
        proc.stdin.close()
