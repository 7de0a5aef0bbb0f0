"""CSV downloads of the tables the pages show, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import Response

from maturity.spreadsheet import csv_cell as safe_cell  # the one rule, shared with the CLI

__all__ = ["CSV_RESPONSE", "csv_response", "safe_cell"]


def csv_response(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, filename: str
) -> Response:
    """A CSV download of ``rows`` with exactly ``columns``, in that order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


#: the OpenAPI description of a route that also answers ``?format=csv``
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "JSON, or CSV with ?format=csv",
    }
}
