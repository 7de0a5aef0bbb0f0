"""PDF reports for the web: at most a few browsers at once, each PDF kept while it holds.

Every PDF is printed by a headless Chromium (a few hundred megabytes and a dozen processes).
:class:`PdfRenderer` lets at most ``max_browsers`` render at once and refuses the rest (503 with
``Retry-After``) instead of queueing them, and keeps what it rendered per report content: the
same team, period and data (the report's HTML, generation time left out) give the same file, so
a second request for it starts no browser and records no new report run.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

#: how long a refused client is asked to wait: about one rendering
RETRY_AFTER_S = 30


class Busy(Exception):
    """Every browser slot is taken; try again after :data:`RETRY_AFTER_S` seconds."""


class PdfRenderer:
    """A bounded pool of browser slots and a small LRU of rendered PDFs."""

    def __init__(self, max_browsers: int, *, keep: int = 32) -> None:
        self.max_browsers = max_browsers
        self._slots = threading.BoundedSemaphore(max_browsers)
        self._keep = keep
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: object) -> str:
        """A key for a report: a digest of what determines its file."""
        digest = hashlib.sha256()
        for part in parts:
            digest.update(repr(part).encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def get(self, key: str) -> bytes | None:
        """A PDF rendered before for ``key``, or None."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def render(self, key: str, make: Callable[[], bytes]) -> bytes:
        """The PDF for ``key``: kept, else made with a browser slot; :class:`Busy` if none."""
        found = self.get(key)
        if found is not None:
            return found
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.max_browsers} PDF(s) are being rendered already")
        try:
            found = self.get(key)  # rendered by another request while this one waited
            if found is None:
                found = make()
                with self._lock:
                    self._kept[key] = found
                    while len(self._kept) > self._keep:
                        self._kept.popitem(last=False)
            return found
        finally:
            self._slots.release()
