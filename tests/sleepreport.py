"""Opt-in detector of real-clock waits in the test process (issue 17: no sleep over 0.3 s).

With ``MATURITY_TEST_REPORT_SLEEPS=1`` the session wraps ``time.sleep``, ``asyncio.sleep`` and
``threading.Condition.wait`` (which ``Event.wait``, ``Queue.get(timeout=...)`` and
``Semaphore.acquire`` wait in), and, once the tests are collected, replaces the original
``time.sleep`` where a function of the project took it as a default argument (``sleep=
time.sleep`` binds it when the module loads). Every call that took longer than
``MATURITY_TEST_SLEEP_THRESHOLD_S`` (0.3 s) is recorded with the test that ran it and the top of
its stack, and listed at the end of the run; a value other than ``1`` is a file that each wait
is also appended to as it ends (so that an interrupted run, or pytest-xdist's workers, whose
summaries are not shown, still report). Without the variable nothing is wrapped.

It sees this process only: the ``python -m maturity`` subprocesses the CLI tests start, socket
timeouts and waits on child processes are not seen (grep those paths).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "MATURITY_TEST_REPORT_SLEEPS"
THRESHOLD_ENV = "MATURITY_TEST_SLEEP_THRESHOLD_S"
ROOT = Path(__file__).resolve().parent.parent
#: packages whose functions' ``sleep=time.sleep`` defaults are swapped for the recorder
PACKAGES = ("maturity", "collectors", "web", "tests", "bench")


@dataclass
class Wait:
    test: str
    kind: str  # "time.sleep(2)", "Condition.wait(30) timed out", ...
    elapsed_s: float
    thread: str
    where: list[str]


class Recorder:
    def __init__(self, threshold_s: float, out: Path | None = None) -> None:
        self.threshold_s = threshold_s
        self.out = out
        self.waits: list[Wait] = []
        self.test = "(outside a test)"
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []
        self.original_sleep = time.sleep

    # --- what is recorded -------------------------------------------------------------

    def record(self, kind: str, elapsed_s: float) -> None:
        if elapsed_s <= self.threshold_s:
            return
        where = _where(traceback.extract_stack()[:-2])
        if where and any(part in where[0] for part in _HARNESS):
            return  # pytest-xdist's and execnet's own loops, waiting for each other
        wait = Wait(self.test, kind, elapsed_s, threading.current_thread().name, where)
        with self._lock:
            self.waits.append(wait)
            if self.out is not None:
                with self.out.open("a", encoding="utf-8") as f:
                    f.write("\n".join(self._lines(wait)) + "\n")

    # --- installing -------------------------------------------------------------------

    def install(self) -> None:
        original_sleep = self.original_sleep
        recorder = self

        def sleep(seconds: float) -> None:
            started = time.monotonic()
            try:
                original_sleep(seconds)
            finally:
                recorder.record(f"time.sleep({seconds:g})", time.monotonic() - started)

        original_wait = threading.Condition.wait

        def wait(self: threading.Condition, timeout: float | None = None) -> bool:
            started = time.monotonic()
            woken = False
            try:
                woken = original_wait(self, timeout)
                return woken
            finally:
                outcome = "woken" if woken else "timed out"
                recorder.record(
                    f"Condition.wait({timeout if timeout is None else f'{timeout:g}'}) {outcome}",
                    time.monotonic() - started,
                )

        original_async_sleep = asyncio.sleep

        async def async_sleep(delay: float, result: Any = None) -> Any:
            started = time.monotonic()
            try:
                return await original_async_sleep(delay, result)
            finally:
                recorder.record(f"asyncio.sleep({delay:g})", time.monotonic() - started)

        time.sleep = sleep
        threading.Condition.wait = wait  # type: ignore[method-assign]
        asyncio.sleep = async_sleep  # type: ignore[assignment]
        self.sleep = sleep

        def undo() -> None:
            time.sleep = original_sleep
            threading.Condition.wait = original_wait  # type: ignore[method-assign]
            asyncio.sleep = original_async_sleep

        self._undo.append(undo)

    def swap_bound_defaults(self) -> int:
        """Replace ``time.sleep`` bound as a default argument in the project's functions."""
        swapped = 0
        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in PACKAGES:
                continue
            for fn in _functions(module):
                swapped += self._swap(fn)
        return swapped

    def _swap(self, fn: types.FunctionType) -> int:
        swapped = 0
        defaults = fn.__defaults__
        if defaults and any(d is self.original_sleep for d in defaults):
            fn.__defaults__ = tuple(self.sleep if d is self.original_sleep else d for d in defaults)
            self._undo.append(lambda: setattr(fn, "__defaults__", defaults))
            swapped += 1
        kwdefaults = fn.__kwdefaults__
        if kwdefaults and any(d is self.original_sleep for d in kwdefaults.values()):
            fn.__kwdefaults__ = {
                k: self.sleep if d is self.original_sleep else d for k, d in kwdefaults.items()
            }
            self._undo.append(lambda: setattr(fn, "__kwdefaults__", kwdefaults))
            swapped += 1
        return swapped

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    # --- the report -------------------------------------------------------------------

    def lines(self) -> list[str]:
        out = [
            f"{len(self.waits)} real-clock wait(s) over {self.threshold_s:g} s "
            f"({sum(w.elapsed_s for w in self.waits):.1f} s in all), longest first:"
        ]
        for w in sorted(self.waits, key=lambda w: -w.elapsed_s):
            out.extend(self._lines(w))
        return out

    @staticmethod
    def _lines(w: Wait) -> list[str]:
        head = f"{w.elapsed_s:6.2f} s  {w.kind}  [{w.thread}]  {w.test}"
        return [head, *(f"           {frame}" for frame in w.where)]


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    for value in list(vars(module).values()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            yield value
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                fn = attr.__func__ if isinstance(attr, classmethod | staticmethod) else attr
                if isinstance(fn, types.FunctionType):
                    yield fn


_HARNESS = ("/xdist/", "/execnet/")


def _where(stack: traceback.StackSummary, depth: int = 4) -> list[str]:
    """The innermost frames that are not this module, the threading module or asyncio's."""
    frames = []
    for frame in reversed(stack):
        if frame.filename == __file__ or frame.filename.endswith(
            ("/threading.py", "/queue.py", "/asyncio/tasks.py")
        ):
            continue
        path = Path(frame.filename)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        frames.append(f"{shown}:{frame.lineno} {frame.name}: {frame.line}")
        if len(frames) == depth:
            break
    return frames


def from_environment() -> Recorder | None:
    value = os.environ.get(ENV, "")
    if value in ("", "0"):
        return None
    out = None if value == "1" else Path(value)
    return Recorder(float(os.environ.get(THRESHOLD_ENV, "0.3")), out)
