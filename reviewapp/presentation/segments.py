"""The dashboard's "By segment" tables, shaped from ``by_segment`` of the adoption or quality
figures (``selectors.segments``): one table per declared field, one row per value, with the
disparity flag written out in words (never shown by colour alone)."""

from __future__ import annotations

from typing import Any

from reviewapp.presentation import charts
from reviewapp.selectors.segments import segment_min_sample

DASH = "\u2013"


def pct(value: float | None) -> str:
    return charts.format_value(value, "percent")


FLAG_NAMES = {"live_accuracy": "live accuracy", "outcome_accuracy": "outcome accuracy"}


def _with_ci(rate: float | None, ci: list[float] | None) -> dict[str, str]:
    return {
        "value": pct(rate) if rate is not None else DASH,
        "ci": f"{pct(ci[0])}{DASH}{pct(ci[1])}" if ci else "",
    }


def _flag_text(row: dict) -> str:
    """The flag in words, e.g. "Worse than the rest: live accuracy 78% vs 92%" ("" if none)."""
    parts = [
        f"{FLAG_NAMES[name]} {pct(row[name])} vs {pct(row[f'rest_{name}'])}"
        for name in row["disparity_on"]
    ]
    return f"Worse than the rest: {'; '.join(parts)}" if parts else ""


def segment_tables(by_segment: dict[str, list[dict]]) -> dict[str, Any]:
    """{"tables": [{"field", "rows", "flagged"}], "min_sample", "flagged"} for the template."""
    tables = []
    for field, rows in by_segment.items():
        shaped = [
            {
                "value": r["value"],
                "received": f"{r['received']:,}",
                "to_people": f"{r['to_people']:,}",
                "to_people_rate": pct(r["sent_to_people_rate"]),
                "decided": f"{r['decided']:,}",
                "acceptance": pct(r["acceptance_rate"]),
                "override": pct(r["override_rate"]),
                "live": _with_ci(r["live_accuracy"], r["live_accuracy_ci"]),
                "outcomes": f"{r['outcomes']:,}",
                "outcome": _with_ci(r["outcome_accuracy"], r["outcome_accuracy_ci"]),
                "final": _with_ci(r["final_accuracy"], r["final_accuracy_ci"]),
                "disparity": r["disparity"],
                "flag": _flag_text(r),
            }
            for r in rows
        ]
        tables.append(
            {
                "field": field,
                "rows": shaped,
                "flagged": sum(1 for r in rows if r["disparity"]),
            }
        )
    return {
        "tables": tables,
        "min_sample": segment_min_sample(),
        "flagged": sum(t["flagged"] for t in tables),
    }
