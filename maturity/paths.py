"""Path globs of monorepo rules (``paths = ["services/payments/**"]``): check, compile, rank.

A glob is relative to the repository's root and uses ``/`` between directories:

- ``*`` matches any characters within one directory level, ``?`` one character,
  ``[abc]``, ``[a-z]`` and ``[!abc]`` one character of a set;
- ``**`` as a whole level matches any number of levels (none too);
- a glob also covers everything below what it matches: ``services/payments`` is
  ``services/payments/**`` as well.

Matching is case-sensitive, as git's paths are. Where globs of several teams match one file,
the **longest match** wins: the glob with the most literal characters (wildcards and sets do
not count; a set counts as one). Equal lengths go to the team listed first in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


class GlobError(ValueError):
    """A path glob that cannot be used; the message says why."""


@dataclass(frozen=True)
class Glob:
    """A checked glob: its text, its compiled expression and its rank (literal characters)."""

    pattern: str
    regex: re.Pattern[str]
    rank: int

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


def check(pattern: str) -> str:
    """The glob as written, if it can be used; else :class:`GlobError` saying why."""
    compile_glob(pattern)
    return pattern


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> Glob:
    """Compile one glob (see the module's docstring); :class:`GlobError` if it is wrong."""
    if not pattern.strip():
        raise GlobError("a path glob cannot be empty")
    if pattern != pattern.strip():
        raise GlobError(f"path glob {pattern!r} starts or ends with a space")
    if pattern.startswith("/"):
        raise GlobError(f"path glob {pattern!r} must be relative to the repository root (no '/')")
    if "\\" in pattern:
        raise GlobError(f"path glob {pattern!r} contains '\\'; git paths use '/'")
    levels = pattern.rstrip("/").split("/")
    out: list[str] = []
    rank = 0
    for i, level in enumerate(levels):
        last = i == len(levels) - 1
        if level == "":
            raise GlobError(f"path glob {pattern!r} has an empty level ('//')")
        if level in (".", ".."):
            raise GlobError(f"path glob {pattern!r} cannot contain '{level}'")
        if level == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        if "**" in level:
            raise GlobError(f"path glob {pattern!r}: '**' must be a whole level ('a/**/b')")
        regex, literal = _level(level, pattern)
        # the '/' before a next level that is not '**' is literal too
        rank += literal + (0 if last or levels[i + 1] == "**" else 1)
        out.append(regex + ("" if last else "/"))
    body = "".join(out)
    # a glob covers what is below what it matches
    return Glob(pattern, re.compile(f"^{body}(?:/.*)?$", re.DOTALL), rank)


def _level(level: str, pattern: str) -> tuple[str, int]:
    """One directory level as a regular expression, and its count of literal characters."""
    out: list[str] = []
    literal = 0
    i = 0
    while i < len(level):
        ch = level[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
            literal += 1
        elif ch == "[":
            j = i + 1
            if level[j : j + 1] == "!":
                j += 1
            if level[j : j + 1] == "]":  # a ']' first in a set is one of its characters
                j += 1
            end = level.find("]", j)
            if end < 0:
                raise GlobError(f"path glob {pattern!r} has a '[' without its ']'")
            inner = level[i + 1 : end]
            negate = inner.startswith("!")
            body = inner[1:] if negate else inner
            for special in ("\\", "]", "[", "^"):
                body = body.replace(special, "\\" + special)
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            literal += 1
            i = end
        elif ch == "]":
            raise GlobError(f"path glob {pattern!r} has a ']' without its '['")
        else:
            out.append(re.escape(ch))
            literal += 1
        i += 1
    return "".join(out), literal


def owner(path: str, rules: list[tuple[int, Glob]]) -> int | None:
    """The owner of ``path`` among ``(owner, glob)`` rules in file order: the longest match,
    the first listed among equals; None when no glob matches."""
    best: tuple[int, int] | None = None
    for who, glob in rules:
        if glob.matches(path) and (best is None or glob.rank > best[0]):
            best = (glob.rank, who)
    return best[1] if best else None
