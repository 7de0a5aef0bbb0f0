"""Raw Jira issues become rows: incident rules, service, deployment, transitions, JQL bounds."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.base import MalformedRecord
from collectors.jira import records
from collectors.jira.config import JiraConfig as JiraSource
from collectors.jira.streams import build_jql, since_clause

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jira"


def _recorded_issue() -> dict[str, Any]:
    """DRILL-1 as Apache's Jira sent it, changelog included."""
    path = FIXTURES / "GET_rest_api_2_issue_DRILL-1_expand-changelog.json"
    envelope = json.loads(path.read_text(encoding="utf-8"))
    return copy.deepcopy(envelope["body"])


def _rules(**overrides: Any) -> records.Rules:
    cfg = JiraSource(url="https://jira.example.com", **overrides)
    return records.Rules.of(
        cfg, service_field=cfg.service_field, deployment_field=cfg.deployment_field
    )


def test_recorded_issue_maps_to_its_row() -> None:
    record = records.normalize(_recorded_issue(), "DRILL", _rules())
    row = record.row
    assert row["external_id"] == "12606268"
    assert row["key"] == "DRILL-1"
    assert row["title"] == "Thrift-based wire protocol"
    assert row["issue_type"] == "Improvement"
    assert row["priority"] == "Minor"
    assert row["status"] == "Resolved"
    assert row["status_category"] == "done"
    assert row["created_at"] == dt.datetime(2012, 9, 5, 16, 34, 55, 991000, tzinfo=dt.UTC)
    assert row["resolved_at"] == dt.datetime(2014, 5, 28, 22, 58, 39, 42000, tzinfo=dt.UTC)
    assert row["is_incident"] is False
    assert row["deployment_ref"] is None


def test_only_status_items_of_the_recorded_changelog_become_transitions() -> None:
    # DRILL-1's six histories change links, workflow, resolution and fix version; one history
    # also moves the status (its second item), and only that one is a transition.
    transitions = records.normalize(_recorded_issue(), "DRILL", _rules()).transitions
    assert transitions == [
        {
            "external_id": "14082215:1",
            "from_status": "Open",
            "to_status": "Resolved",
            "changed_at": dt.datetime(2014, 5, 28, 22, 58, 39, 71000, tzinfo=dt.UTC),
        }
    ]


@pytest.mark.parametrize(
    ("change", "rules"),
    [
        ({"issuetype": {"name": "incident"}}, {}),
        ({"labels": ["sev1", "Incident"]}, {}),
        ({"priority": {"name": "Blocker"}}, {"incident_priorities": ["blocker"]}),
    ],
)
def test_incident_by_type_label_or_priority(change: dict[str, Any], rules: dict[str, Any]) -> None:
    raw = _recorded_issue()
    raw["fields"].update(change)
    assert records.normalize(raw, "DRILL", _rules(**rules)).row["is_incident"] is True


def test_incident_takes_its_deployment_from_the_affected_version() -> None:
    raw = _recorded_issue()
    raw["fields"]["issuetype"]["name"] = "Incident"
    raw["fields"]["versions"] = [{"name": "2.4.1"}, {"name": "2.4.0"}]
    assert records.normalize(raw, "DRILL", _rules()).row["deployment_ref"] == "2.4.1"


def test_configured_deployment_field_wins_and_non_incidents_get_none() -> None:
    raw = _recorded_issue()
    raw["fields"]["versions"] = [{"name": "2.4.1"}]
    raw["fields"]["customfield_10101"] = "deploy-2026-01-05.3"
    rules = _rules(deployment_field="customfield_10101")
    assert records.normalize(raw, "DRILL", rules).row["deployment_ref"] is None
    raw["fields"]["labels"] = ["incident"]
    assert records.normalize(raw, "DRILL", rules).row["deployment_ref"] == "deploy-2026-01-05.3"


def test_service_from_first_component_or_the_configured_field() -> None:
    raw = _recorded_issue()
    raw["fields"]["components"] = [{"name": "checkout"}, {"name": "ledger"}]
    raw["fields"]["customfield_10100"] = {"value": "payments-api", "id": "1"}
    assert records.normalize(raw, "DRILL", _rules()).row["service"] == "checkout"
    with_field = _rules(service_field="customfield_10100")
    assert records.normalize(raw, "DRILL", with_field).row["service"] == "payments-api"


def test_unknown_status_category_is_stored_as_none() -> None:
    raw = _recorded_issue()
    raw["fields"]["status"]["statusCategory"]["key"] = "undefined"
    assert records.normalize(raw, "DRILL", _rules()).row["status_category"] is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["fields"].pop("created"), "created"),
        (lambda r: r["fields"].update(created="last tuesday"), "not a timestamp"),
        (lambda r: r["fields"].update(created="2012-09-05T16:34:55"), "without a time zone"),
        (lambda r: r.pop("fields"), "no fields"),
        (lambda r: r["fields"].update(labels="a,b"), "labels"),
        (lambda r: r["changelog"]["histories"][0].pop("id"), "without an id"),
    ],
)
def test_malformed_issue_raises_with_a_reason(mutate: Any, reason: str) -> None:
    raw = _recorded_issue()
    mutate(raw)
    with pytest.raises(MalformedRecord, match=reason):
        records.normalize(raw, "DRILL", _rules())


def test_since_clause_starts_lookback_minutes_earlier_in_the_cursors_own_zone() -> None:
    clause = since_clause("2026-01-06T00:03:39.000+1300", 5)
    assert clause == 'updated >= "2026-01-05 23:58"'


def test_no_or_unreadable_cursor_means_no_bound() -> None:
    assert since_clause(None, 5) is None
    assert since_clause("yesterday", 5) is None


def test_jql_quotes_the_project_and_wraps_the_extra_filter() -> None:
    jql = build_jql('A"B', extra="issuetype = Incident", since='updated >= "2026-01-01 00:00"')
    assert jql == (
        'project = "A\\"B" AND (issuetype = Incident) AND updated >= "2026-01-01 00:00"'
        " ORDER BY updated ASC, key ASC"
    )


@given(
    cursor=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
    lookback=st.integers(min_value=1, max_value=24 * 60),
)
def test_since_bound_is_the_lookback_minute_in_the_cursors_zone(
    cursor: dt.datetime, offset_minutes: int, lookback: int
) -> None:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    value = cursor.replace(tzinfo=zone).isoformat(timespec="milliseconds")
    clause = since_clause(value, lookback)
    assert clause is not None
    bound = dt.datetime.strptime(clause, 'updated >= "%Y-%m-%d %H:%M"').replace(tzinfo=zone)
    start = cursor.replace(tzinfo=zone) - dt.timedelta(minutes=lookback)
    assert start - dt.timedelta(minutes=1) < bound <= start
