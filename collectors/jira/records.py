"""Raw Jira issues to rows: the issue, its incident verdict, service, deployment and transitions."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from collectors.base import MalformedRecord
from collectors.jira.config import JiraConfig

STATUS_CATEGORIES = ("new", "indeterminate", "done")


@dataclass(frozen=True)
class Rules:
    """What makes an issue an incident, and where its service and deployment come from."""

    incident_types: frozenset[str]
    incident_labels: frozenset[str]
    incident_priorities: frozenset[str]
    service_field: str | None = None
    deployment_field: str | None = None

    @classmethod
    def of(
        cls, cfg: JiraConfig, *, service_field: str | None, deployment_field: str | None
    ) -> Rules:
        """Rules from the configuration, with field names already resolved to field ids."""
        return cls(
            incident_types=frozenset(t.casefold() for t in cfg.incident_issue_types),
            incident_labels=frozenset(label.casefold() for label in cfg.incident_labels),
            incident_priorities=frozenset(p.casefold() for p in cfg.incident_priorities),
            service_field=service_field,
            deployment_field=deployment_field,
        )


@dataclass
class IssueRecord:
    """One normalized issue: its row (without team) and its status transitions."""

    row: dict[str, Any]
    transitions: list[dict[str, Any]] = field(default_factory=list)


def parse_time(value: Any, what: str) -> dt.datetime:
    """A Jira timestamp (``2011-12-15T15:35:06.000+1300``) as an aware datetime."""
    if not isinstance(value, str):
        raise MalformedRecord(f"{what}: expected a timestamp, got {type(value).__name__}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedRecord(f"{what}: not a timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise MalformedRecord(f"{what}: timestamp without a time zone: {value[:40]!r}")
    return parsed


def _name(value: Any) -> str | None:
    """The display text of a field value: a string, or an object's name/value."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("name", "value", "key"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
    return None


def _first_name(value: Any) -> str | None:
    if isinstance(value, list):
        for item in value:
            name = _name(item)
            if name:
                return name
        return None
    return _name(value)


def normalize(raw: Any, scope: str, rules: Rules) -> IssueRecord:
    """Turn one raw issue (with ``changelog``) into an :class:`IssueRecord`.

    Raises:
        MalformedRecord: the payload lacks what every issue has (id, key, fields, created).
    """
    if not isinstance(raw, dict):
        raise MalformedRecord(f"an issue must be an object, got {type(raw).__name__}")
    issue_id, key, fields = raw.get("id"), raw.get("key"), raw.get("fields")
    if not isinstance(issue_id, str | int) or not str(issue_id):
        raise MalformedRecord("issue without an id")
    if not isinstance(key, str) or not key:
        raise MalformedRecord(f"issue {issue_id}: no key")
    if not isinstance(fields, dict):
        raise MalformedRecord(f"issue {key}: no fields")
    created = parse_time(fields.get("created"), f"issue {key}: created")
    updated = (
        parse_time(fields["updated"], f"issue {key}: updated") if fields.get("updated") else None
    )
    resolved = (
        parse_time(fields["resolutiondate"], f"issue {key}: resolutiondate")
        if fields.get("resolutiondate")
        else None
    )
    labels_raw = fields.get("labels") or []
    if not isinstance(labels_raw, list) or not all(isinstance(x, str) for x in labels_raw):
        raise MalformedRecord(f"issue {key}: labels must be a list of strings")
    labels = sorted(labels_raw)
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = (status.get("statusCategory") or {}).get("key") if status else None
    issue_type = _name(fields.get("issuetype"))
    priority = _name(fields.get("priority"))

    is_incident = (
        (issue_type or "").casefold() in rules.incident_types
        or any(label.casefold() in rules.incident_labels for label in labels)
        or (priority or "").casefold() in rules.incident_priorities
    )
    if rules.service_field:
        service = _first_name(fields.get(rules.service_field))
    else:
        service = _first_name(fields.get("components"))
    deployment_ref = None
    if is_incident:
        # The version an incident was found in is the deployment that caused it; a configured
        # field (a deployment id, a release name) wins over the affected versions.
        source = fields.get(rules.deployment_field) if rules.deployment_field else None
        deployment_ref = _first_name(source) or (
            None if rules.deployment_field else _first_name(fields.get("versions"))
        )
    self_url = raw.get("self")
    row = {
        "source": "jira",
        "scope": scope,
        "external_id": str(issue_id),
        "key": key,
        "title": fields.get("summary") if isinstance(fields.get("summary"), str) else "",
        "issue_type": issue_type,
        "priority": priority,
        "status": _name(status) if status else None,
        "status_category": category if category in STATUS_CATEGORIES else None,
        "labels": json.dumps(labels) if labels else None,
        "created_at": created,
        "updated_at": updated,
        "resolved_at": resolved,
        "is_incident": is_incident,
        "service": service[:300] if service else None,
        "deployment_ref": deployment_ref[:300] if deployment_ref else None,
        "url": self_url if isinstance(self_url, str) else None,
    }
    return IssueRecord(row=row, transitions=transitions(raw, key))


def transitions(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Status changes from the changelog: one row per status item of a history."""
    changelog = raw.get("changelog")
    if changelog is None:
        return []
    histories = changelog.get("histories") if isinstance(changelog, dict) else None
    if not isinstance(histories, list):
        raise MalformedRecord(f"issue {key}: changelog without histories")
    rows = []
    for history in histories:
        if not isinstance(history, dict) or not isinstance(history.get("items"), list):
            raise MalformedRecord(f"issue {key}: a changelog history without items")
        history_id = history.get("id")
        if not isinstance(history_id, str | int) or not str(history_id):
            raise MalformedRecord(f"issue {key}: a changelog history without an id")
        for index, item in enumerate(history["items"]):
            if not isinstance(item, dict) or item.get("field") != "status":
                continue
            rows.append(
                {
                    "external_id": f"{history_id}:{index}",
                    "from_status": _text(item.get("fromString")),
                    "to_status": _text(item.get("toString")),
                    "changed_at": parse_time(history.get("created"), f"issue {key}: history"),
                }
            )
    return rows


def _text(value: Any) -> str | None:
    return value[:100] if isinstance(value, str) and value else None
