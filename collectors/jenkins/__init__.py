"""Jenkins: the builds of the jobs teams own (and deployments) through python-jenkins.

One scope per job, named by the job's full name (``payments/api/feature%2Fx``); teams own jobs
by globs over that name (``jenkins = ["payments/*"]``). Each job is one stream of builds read in
ranged pages (see ``streams``); deploy rules make some builds deployments too.
"""

from __future__ import annotations

from collectors.base import CollectContext, ScopeResult, Source
from collectors.jenkins.config import JenkinsConfig
from collectors.jenkins.records import select_jobs

SOURCE = Source(
    name="jenkins",
    settings=JenkinsConfig,
    team_key="jenkins",
    collector="collectors.jenkins.streams:JenkinsCollector",
)

__all__ = ["SOURCE", "collect", "select_jobs"]


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect the builds of every wanted job; one failed job never stops the others."""
    from collectors import runner

    return runner.collect_source(ctx, SOURCE)
