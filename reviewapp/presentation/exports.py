"""Rows of the downloads: the adoption figures' daily CSV, the label export (JSON Lines or
CSV, streamed) and the audit log export (CSV or JSON Lines, streamed).

Free-text cells are defused against spreadsheet formulas (``csv_safe``). Streams take
iterators of plain records (dicts) from the selectors and yield text, so an export of
millions of rows runs in constant memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from reviewapp.models import AuditEvent
from reviewapp.selectors.metrics import CASE_FIELDS

# Spreadsheet formula injection: a cell starting with one of these is prefixed with a quote.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
JSONL_CONTENT_TYPE = "application/x-ndjson"
CONTENT_TYPES = {"csv": CSV_CONTENT_TYPE, "jsonl": JSONL_CONTENT_TYPE}

ADOPTION_CSV_COLUMNS = (
    "date",
    *CASE_FIELDS,
    "decided",
    "accepted",
    "overridden",
    "acceptance_rate",
    "override_rate",
    "helpful_rate",
    "active_reviewers",
    "time_to_decision_p50_s",
)
LABEL_CSV_COLUMNS = (
    "case_id",
    "external_id",
    "model",
    "model_version",
    "input",
    "predicted_label",
    "confidence",
    "final_label",
    "action",
    "reason_code",
    "feedback",
    "explanation_helpful",
    "was_blind",
    "reviewer",
    "received_at",
    "decided_at",
    "time_to_decision_s",
)
AUDIT_COLUMNS = AuditEvent.RECORDED_FIELDS


def csv_safe(value: object) -> object:
    """Defuse spreadsheet formulas in free text (a cell starting with = + - @ or a tab)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole (small) CSV document."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


# --- adoption figures ------------------------------------------------------------------------


def adoption_csv_rows(metrics: dict) -> tuple[list[str], list[list]]:
    """The daily rows of ``adoption_metrics`` as (header, rows) for a CSV download."""
    header = list(ADOPTION_CSV_COLUMNS)
    rows = [["" if r.get(h) is None else r.get(h) for h in header] for r in metrics["daily"]]
    return header, rows


def adoption_csv_text(metrics: dict) -> str:
    """The daily rows of ``adoption_metrics`` as a CSV document."""
    return csv_text(*adoption_csv_rows(metrics))


def download_name(
    stem: str, date_from: date | str | None, date_to: date | str | None, ext: str
) -> str:
    """``stem-<from>-<to>.ext`` (``stem-all.ext`` without dates) for Content-Disposition."""
    stamp = "-".join(str(x) for x in (date_from, date_to) if x) or "all"
    return f"{stem}-{stamp}.{ext}"


# --- label export ----------------------------------------------------------------------------


def label_jsonl_lines(records: Iterable[dict]) -> Iterator[str]:
    """One JSON object per decided case, with the prediction nested."""
    for row in records:
        yield (
            json.dumps(
                {
                    "case_id": row["case_id"],
                    "external_id": row["external_id"],
                    "model": row["model"],
                    "model_version": row["model_version"],
                    "input": row["input"],
                    "prediction": {
                        "label": row["predicted_label"],
                        "confidence": row["confidence"],
                    },
                    "final_label": row["final_label"],
                    "action": row["action"],
                    "reason_code": row["reason_code"],
                    "feedback": row["feedback"],
                    "explanation_helpful": row["explanation_helpful"],
                    "was_blind": row["was_blind"],
                    "reviewer": row["reviewer"],
                    "received_at": row["received_at"],
                    "decided_at": row["decided_at"],
                    "time_to_decision_s": row["time_to_decision_s"],
                },
                cls=DjangoJSONEncoder,
                separators=(",", ":"),
            )
            + "\n"
        )


def label_csv_lines(records: Iterable[dict]) -> Iterator[str]:
    """The header, then one row per decided case (the input as a JSON cell), in blocks of
    200 rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LABEL_CSV_COLUMNS)
    for i, row in enumerate(records):
        cells = {**row, "input": json.dumps(row["input"], cls=DjangoJSONEncoder, sort_keys=True)}
        writer.writerow([csv_safe(cells[c]) for c in LABEL_CSV_COLUMNS])
        if i % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def label_lines(records: Iterable[dict], fmt: str) -> Iterator[str]:
    """The label export in ``fmt`` (``csv`` or ``jsonl``)."""
    return label_csv_lines(records) if fmt == "csv" else label_jsonl_lines(records)


# --- audit log export ------------------------------------------------------------------------


def audit_csv_lines(chunks: Iterable[Sequence[dict]]) -> Iterator[str]:
    """The header, then one row per event (``changes`` as a JSON cell)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(AUDIT_COLUMNS)
    for chunk in chunks:
        for row in chunk:
            cells = {**row, "changes": json.dumps(row["changes"], sort_keys=True, default=str)}
            yield writer.writerow([csv_safe(cells[c]) for c in AUDIT_COLUMNS])


def audit_jsonl_lines(chunks: Iterable[Sequence[dict]]) -> Iterator[str]:
    """One JSON object per event, one string per chunk."""
    for chunk in chunks:
        yield "".join(json.dumps(row, default=str) + "\n" for row in chunk)


def audit_lines(chunks: Iterable[Sequence[dict]], fmt: str) -> Iterator[str]:
    """The audit export in ``fmt`` (``csv`` or ``jsonl``)."""
    return audit_csv_lines(chunks) if fmt == "csv" else audit_jsonl_lines(chunks)
