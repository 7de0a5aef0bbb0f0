"""The git collector: commits, tags and branches of every configured repository.

One streaming ``git log`` per repository, parsed as it arrives and upserted in batches; a
cursor of ref tips makes a re-run read only what is new. Authors are stored only as salted
hashes: no name or e-mail address ever reaches the store. Each repository listed under
``teams[].repositories`` is one scope (see ``streams``).
"""

from __future__ import annotations

from collectors.base import CollectContext, NoSettings, ScopeResult, Source

SOURCE: Source[NoSettings] = Source(
    name="git",
    team_key="repositories",
    collector="collectors.git.streams:GitCollector",
    needs_settings=False,
)

__all__ = ["SOURCE", "collect"]


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect every configured repository; a failing one never stops the others."""
    from collectors import runner

    return runner.collect_source(ctx, SOURCE)
