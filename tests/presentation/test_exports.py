"""Download rows: the adoption CSV, the label export and the audit export (plain records in,
text out), with spreadsheet formulas defused."""

import csv
import io
import json

from reviewapp.presentation.exports import (
    ADOPTION_CSV_COLUMNS,
    AUDIT_COLUMNS,
    LABEL_CSV_COLUMNS,
    adoption_csv_rows,
    adoption_csv_text,
    audit_lines,
    csv_safe,
    download_name,
    label_lines,
)

LABEL = {
    "case_id": 7,
    "external_id": "=cmd|' /C calc'!A0",
    "model": "fraud-screening",
    "model_version": "2.3.0",
    "input": {"amount": 10, "country": "DE"},
    "predicted_label": "fraud",
    "confidence": 0.62,
    "final_label": "legit",
    "action": "override",
    "reason_code": "wrong_label",
    "feedback": "@SUM(1)",
    "explanation_helpful": None,
    "was_blind": False,
    "reviewer": "r-1",
    "received_at": "2025-01-01T00:00:00+00:00",
    "decided_at": "2025-01-01T00:01:00+00:00",
    "time_to_decision_s": 60.0,
}


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_adoption_csv_has_one_row_per_day_with_blanks_for_none():
    """The header names the figures; a None becomes an empty cell."""
    day = dict.fromkeys(ADOPTION_CSV_COLUMNS, 1) | {"date": "2025-01-01", "override_rate": None}
    metrics = {"daily": [day, day | {"date": "2025-01-02"}]}
    header, rows = adoption_csv_rows(metrics)
    assert header[0] == "date"
    assert len(rows) == 2
    assert rows[0][header.index("override_rate")] == ""
    parsed = _rows(adoption_csv_text(metrics))
    assert parsed[0] == list(ADOPTION_CSV_COLUMNS)
    assert [r[0] for r in parsed[1:]] == ["2025-01-01", "2025-01-02"]


def test_csv_safe_defuses_formulas_only_in_text():
    """Text starting with = + - @ or a tab gets a quote; numbers are untouched."""
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("\tx") == "'\tx"
    assert csv_safe("plain") == "plain"
    assert csv_safe(-3) == -3


def test_label_export_csv_and_jsonl():
    """CSV: header, input as JSON, formulas defused; JSONL: one object with the prediction."""
    rows = _rows("".join(label_lines(iter([LABEL, LABEL | {"case_id": 8}]), "csv")))
    assert rows[0] == list(LABEL_CSV_COLUMNS)
    assert len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["external_id"].startswith("'=")
    assert first["feedback"] == "'@SUM(1)"
    assert json.loads(first["input"]) == {"amount": 10, "country": "DE"}
    lines = list(label_lines([LABEL], "jsonl"))
    body = json.loads(lines[0])
    assert body["prediction"] == {"label": "fraud", "confidence": 0.62}
    assert body["external_id"] == LABEL["external_id"]
    assert "predicted_label" not in body


def test_audit_export_csv_and_jsonl():
    """Audit rows: changes as a JSON cell in CSV, one object per event in JSONL."""
    event = dict.fromkeys(AUDIT_COLUMNS, "") | {"id": 1, "changes": {"b": 2, "a": 1}}
    chunks = [[event, event | {"id": 2, "actor_label": "+evil"}]]
    rows = _rows("".join(audit_lines(chunks, "csv")))
    assert rows[0] == list(AUDIT_COLUMNS)
    assert rows[1][AUDIT_COLUMNS.index("changes")] == '{"a": 1, "b": 2}'
    assert rows[2][AUDIT_COLUMNS.index("actor_label")] == "'+evil"
    lines = "".join(audit_lines(chunks, "jsonl")).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2]


def test_download_names():
    """Dates in the name when given, ``all`` otherwise."""
    assert download_name("m-labels", None, None, "csv") == "m-labels-all.csv"
    assert download_name("m", "2025-01-01", None, "jsonl") == "m-2025-01-01.jsonl"
