"""The adoption dashboard's tiles, charts and tables, shaped from the figures of
``selectors.metrics.adoption_metrics`` (a dict of numbers; rates in 0..1, times in seconds).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reviewapp.presentation import charts
from reviewapp.presentation.segments import segment_tables
from reviewapp.selectors.metrics import FLAG_FAST, FLAG_OVERRIDES

DASH = "\u2013"
MAX_REASONS_CHARTED = 10
FLAG_HELP = {
    FLAG_FAST: "Median time per case under half the peers' median while accepting at least as "
    "often: worth a conversation about whether the model's answer is being checked.",
    FLAG_OVERRIDES: "Overrides the model notably more often than peers: worth a conversation; "
    "they may be seeing something the model gets wrong.",
}


def pct(value: float | None) -> str:
    return charts.format_value(value, "percent")


def dur(value: float | None) -> str:
    return charts.format_value(value, "duration")


def points(value: float | None) -> str:
    """A difference of two rates in percentage points: ``+12 pts``."""
    return "" if value is None else f"{value * 100:+.0f} pts"


def adoption_tiles(m: dict) -> list[dict]:
    """The headline tiles: label, value, a line under it and a tone for its colour."""
    return [
        {
            "label": "Cases received",
            "value": f"{m['received']:,}",
            "sub": f"{m['auto_approved']:,} auto-approved",
            "tone": "accent",
        },
        {
            "label": "Sent to people",
            "value": pct(m["sent_to_people_rate"]),
            "sub": f"{m['queued']:,} cases queued",
            "tone": "accent",
        },
        {
            "label": "Acceptance",
            "value": pct(m["acceptance_rate"]),
            "sub": f"{m['accepted']:,} of {m['decided']:,} decided",
            "tone": "good",
        },
        {
            "label": "Override rate",
            "value": pct(m["override_rate"]),
            "sub": f"{m['overridden']:,} overridden",
            "tone": "warn",
        },
        {
            "label": "Time to decision",
            "value": f"{dur(m['time_to_decision_p50_s'])} · {dur(m['time_to_decision_p90_s'])}",
            "sub": "median · 90th percentile",
            "tone": "accent",
        },
        {
            "label": "Active reviewers",
            "value": f"{m['active_reviewers']:,}",
            "sub": f"median {dur(m['time_spent_p50_s'])} per case",
            "tone": "accent",
        },
        {
            "label": "Escalated · expired",
            "value": f"{m['escalated']:,} · {m['expired']:,}",
            "sub": f"{m['sla_breached']:,} SLA breaches",
            "tone": "bad" if m["expired"] or m["sla_breached"] else "accent",
        },
        {
            "label": "Explanations helpful",
            "value": pct(m["helpful_rate"]),
            "sub": f"{m['helpful_yes'] + m['helpful_no']:,} answers",
            "tone": "good",
        },
    ]


def adoption_charts(m: dict) -> dict[str, Any]:
    """The four charts: daily rates, daily volume by route, daily median time to decision
    and override reasons."""
    daily = m["daily"]
    x = [date.fromisoformat(r["date"]).strftime("%b %d") for r in daily]
    return {
        "rates": charts.line_chart(
            [
                ("Acceptance", list(zip(x, [r["acceptance_rate"] for r in daily], strict=True))),
                ("Override", list(zip(x, [r["override_rate"] for r in daily], strict=True))),
            ],
            y_format="percent",
            y_max=1.0,
            height=240,
            width=640,
            label="Daily acceptance and override rate",
        ),
        "volume": charts.stacked_bar_chart(
            x,
            [
                ("Auto-approved", [r["auto_approved"] for r in daily]),
                ("Sent to people", [r["queued"] for r in daily]),
            ],
            height=240,
            width=640,
            label="Cases received per day",
            first_series=5,
        ),
        "ttd": charts.line_chart(
            [
                (
                    "Median time to decision",
                    list(zip(x, [r["time_to_decision_p50_s"] for r in daily], strict=True)),
                )
            ],
            y_format="duration",
            height=200,
            width=640,
            label="Daily median time to decision",
        ),
        "reasons": charts.hbar_chart(
            list(m["override_reasons"].items())[:MAX_REASONS_CHARTED],
            width=640,
            label="Override reasons",
            series_index=1,
            label_width=170,
        ),
    }


def reviewer_rows(m: dict) -> list[dict]:
    """Per reviewer: the figures as text, with the trust flags and their explanations."""
    rows = []
    for r in m["by_reviewer"]:
        gap = r["agreement_gap"]
        rows.append(
            {
                **r,
                "acceptance": pct(r["acceptance_rate"]),
                "override": pct(r["override_rate"]),
                "spent": dur(r["time_spent_p50_s"]),
                "shown": pct(r["shown_accept_rate"]),
                "blind": pct(r["blind_accept_rate"]) if r["blind_decided"] else DASH,
                "gap": DASH if gap is None else points(gap),
                "flag_help": [(f, FLAG_HELP[f]) for f in r["flags"]],
            }
        )
    return rows


def breakdowns(m: dict) -> list[tuple[str, str, list[dict]]]:
    """(title, key, rows) per breakdown: by version, predicted label and confidence band."""
    out = []
    for title, key, rows in (
        ("version", "version", m["by_version"]),
        ("predicted label", "label", m["by_label"]),
        ("confidence band", "band", m["by_band"]),
    ):
        out.append(
            (
                title,
                key,
                [
                    {
                        "name": r[key],
                        "received": f"{r['received']:,}",
                        "queued": f"{r['queued']:,}",
                        "decided": f"{r['decided']:,}",
                        "acceptance": pct(r["acceptance_rate"]),
                        "override": pct(r["override_rate"]),
                        "ttd": dur(r.get("time_to_decision_p50_s")),
                    }
                    for r in rows
                ],
            )
        )
    return out


def trust_summary(m: dict) -> dict[str, str]:
    """Agreement with the model when its answer was shown against blind, and the gap."""
    trust = m["trust"]
    return {
        "shown": pct(trust["shown_accept_rate"]),
        "blind": pct(trust["blind_accept_rate"]),
        "gap": points(trust["agreement_gap"]),
    }


def adoption_figures(m: dict) -> dict[str, Any]:
    """Everything the dashboard draws from the figures."""
    return {
        "tiles": adoption_tiles(m),
        "charts": adoption_charts(m),
        "reviewer_rows": reviewer_rows(m),
        "breakdowns": breakdowns(m),
        "trust": trust_summary(m),
        "queue_wait": dur(m["queue_wait_avg_s"]),
        "segments": segment_tables(m.get("by_segment") or {}),
    }


def _interval(ci: list[float] | None) -> str:
    return "" if ci is None else f"{pct(ci[0])}{DASH}{pct(ci[1])}"


def quality_card(q: dict) -> dict[str, Any]:
    """The "Did review help?" card from ``selectors.quality.quality_metrics``: accuracy
    against observed outcomes, each with its 95% interval, and the gain from review."""
    auto, reviewed = q["auto_approved"], q["reviewed"]
    return {
        "outcomes": q["outcomes"],
        "rows": [
            {
                "name": "Auto-approved: model",
                "n": auto["n"],
                "accuracy": pct(auto["model_accuracy"]),
                "ci": _interval(auto["model_accuracy_ci"]),
            },
            {
                "name": "Reviewed: model",
                "n": reviewed["n"],
                "accuracy": pct(reviewed["model_accuracy"]),
                "ci": _interval(reviewed["model_accuracy_ci"]),
            },
            {
                "name": "Reviewed: final (after review)",
                "n": reviewed["n"],
                "accuracy": pct(reviewed["final_accuracy"]),
                "ci": _interval(reviewed["final_accuracy_ci"]),
            },
        ],
        "gain": points(q["review_gain"]),
        "tone": _gain_tone(q["review_gain"]),
    }


def _gain_tone(gain: float | None) -> str:
    if gain is None or gain == 0:
        return ""
    return "good" if gain > 0 else "warn"
