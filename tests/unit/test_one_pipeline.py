"""Only ``maturity.pipeline`` sequences the steps of a collection: no entry point syncs teams
for a collection, runs a collector or re-attributes records on its own (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("maturity", "web", "reports")
#: (module, attribute) calls that are steps of the pipeline
STEPS = {("teams", "reattribute"), ("runner", "collect_source"), ("runner", "collect_one")}
#: where a step may be called: the pipeline, and the distributed task that collects one scope
#: (its per-scope step, run under a lease on a worker)
ALLOWED = {
    ("maturity/pipeline.py", ("runner", "collect_source")),
    ("maturity/pipeline.py", ("runner", "collect_one")),
    ("maturity/pipeline.py", ("teams", "reattribute")),
    ("maturity/distributed/tasks.py", ("runner", "collect_one")),
}


def _step_calls() -> list[tuple[str, tuple[str, str], int]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and (node.func.value.id, node.func.attr) in STEPS
                ):
                    rel = path.relative_to(ROOT).as_posix()
                    found.append((rel, (node.func.value.id, node.func.attr), node.lineno))
    return found


def test_only_the_pipeline_runs_collectors_and_attributes_records() -> None:
    calls = _step_calls()
    assert {(rel, step) for rel, step, _ in calls} >= {
        ("maturity/pipeline.py", ("teams", "reattribute"))
    }
    outside = [c for c in calls if (c[0], c[1]) not in ALLOWED]
    assert outside == []
