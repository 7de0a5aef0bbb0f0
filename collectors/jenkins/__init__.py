"""Jenkins: the builds of the jobs teams own (and deployments) through python-jenkins.

One scope per job, named by the job's full name (``payments/api/feature%2Fx``); teams own jobs
by globs over that name (``jenkins = ["payments/*"]``). Each job is one stream of builds read in
ranged pages (see ``streams``); deploy rules make some builds deployments too.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from urllib.parse import unquote

from collectors.base import CollectContext, CollectorError, ScopeResult
from collectors.jenkins.client import JenkinsClient
from collectors.jenkins.records import Job
from collectors.jenkins.streams import BuildStream
from collectors.runner import run_scope
from maturity.config import Config

__all__ = ["collect", "select_jobs", "wanted_patterns"]

log = logging.getLogger("collectors.jenkins")
MULTIBRANCH = "WorkflowMultiBranchProject"


def wanted_patterns(config: Config, team: str | None) -> list[str]:
    """The job globs to collect: ``team``'s, or every team's plus ``sources.jenkins.jobs``."""
    if team is not None:
        return list(config.team(team).jenkins)
    patterns = [p for t in config.teams for p in t.jenkins]
    if config.sources.jenkins is not None:
        patterns += config.sources.jenkins.jobs
    return patterns


def select_jobs(items: Iterable[dict[str, object]], patterns: list[str]) -> list[Job]:
    """The buildable jobs of a job list (folders left out) that match any glob."""
    items = list(items)
    classes = {str(i.get("fullname")): str(i.get("_class") or "") for i in items}
    jobs = []
    for item in items:
        name = item.get("fullname")
        if not isinstance(name, str) or "jobs" in item:
            continue  # a folder or a multibranch project: its children are listed too
        folded = name.casefold()
        if not any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns):
            continue
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        branch = (
            unquote(name.rsplit("/", 1)[-1]) if MULTIBRANCH in classes.get(parent, "") else None
        )
        cls = item.get("_class")
        jobs.append(Job(name, cls if isinstance(cls, str) else None, branch))
    return sorted(jobs, key=lambda j: j.full_name)


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect the builds of every wanted job; one failed job never stops the others."""
    source = ctx.config.sources.jenkins
    if source is None:
        return []
    patterns = wanted_patterns(ctx.config, ctx.team)
    if not patterns:
        ctx.progress.note("jenkins: no team owns a job (teams[].jenkins); nothing to collect")
        return []
    client = JenkinsClient(source, on_wait=ctx.progress.note)
    try:
        listing = client.list_jobs()
    except CollectorError as exc:
        message = str(exc)

        def failing() -> list[BuildStream]:
            raise CollectorError(message)

        return [run_scope(ctx.sessions, "jenkins", "*", failing, progress=ctx.progress)]
    jobs = select_jobs(listing, patterns)
    ctx.progress.note(f"jenkins: {len(jobs)} job(s) to collect")
    results = []
    for job in jobs:
        stream = BuildStream(job, client, source, ctx.config.rules, progress=ctx.progress)
        results.append(
            run_scope(
                ctx.sessions,
                "jenkins",
                job.full_name,
                [stream],
                full_refresh=ctx.full_refresh,
                progress=ctx.progress,
            )
        )
    return results
