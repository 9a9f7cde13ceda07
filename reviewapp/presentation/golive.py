"""The go-live page's texts and table rows from ``selectors.golive.GoLiveReport``, and the
page's period parameters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from reviewapp.presentation.health import DASH, pct
from reviewapp.presentation.params import period_parse
from reviewapp.selectors.golive import GoLiveReport, ShadowThreshold
from reviewapp.selectors.health import wilson_interval

GOLIVE_PERIODS = (7, 30, 90)
GOLIVE_DEFAULT_DAYS = 30


def golive_period(params: Mapping[str, Any]) -> tuple[date, date, datetime, datetime]:
    """(from, to, start, end) of the page's period: ``from``/``to`` dates or ``days`` (the
    last 30 days by default); [start, end) covers both days whole. 400 on bad input."""
    date_from, date_to = period_parse(params, default_days=GOLIVE_DEFAULT_DAYS)
    tz = timezone.get_current_timezone()
    start = datetime.combine(date_from, time.min, tzinfo=tz)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
    return date_from, date_to, start, end


def _ci(ci: tuple[float, float] | list[float] | None) -> str:
    return f"{ci[0]:.1%} to {ci[1]:.1%}" if ci else DASH


def _threshold_row(row: ShadowThreshold, current: float | None) -> dict[str, Any]:
    w = row.what_if
    agreed = w.sample_size - w.errors_in_sample
    return {
        "threshold": f"{row.threshold:.2f}",
        "is_current": current is not None and abs(row.threshold - current) < 1e-9,
        "share_auto": pct(row.share_auto_approved),
        "auto_n": f"{w.auto_approved:,.0f}",
        "agreement": pct(row.agreement),
        "agreement_ci": _ci(wilson_interval(agreed, w.sample_size)) if w.sample_size else DASH,
        "sample": w.sample_size,
        "enough": w.enough_data,
        "hours": f"{w.reviewer_hours:,.1f}" if w.reviewer_hours is not None else DASH,
        "outcome_accuracy": pct(row.outcome_accuracy),
        "outcomes": row.outcomes,
    }


def golive_figures(report: GoLiveReport) -> dict[str, Any]:
    """Everything the go-live page prints."""
    quality = report.quality
    reviewed = quality["reviewed"]
    current = report.policy.review_threshold if report.policy else None
    if report.decided == 0:
        verdict = "No shadow-mode case has been decided in this period yet."
    elif not report.enough_evidence:
        verdict = (
            f"Only {report.decided} blind decisions so far: at least {report.min_sample} are "
            "needed before the comparison says much."
        )
    else:
        verdict = (
            f"People reviewing blind gave the model's label on {pct(report.agreement)} of "
            f"{report.decided} cases (95% interval {_ci(report.agreement_ci)})."
        )
    gain = quality["review_gain"]
    return {
        "verdict": verdict,
        "received": report.received,
        "decided": report.decided,
        "waiting": max(report.received - report.decided, 0),
        "agreement": pct(report.agreement),
        "agreement_ci": _ci(report.agreement_ci),
        "outcomes": quality["outcomes"],
        "outcomes_reviewed": reviewed["n"],
        "model_outcome_accuracy": pct(reviewed["model_accuracy"]),
        "model_outcome_ci": _ci(reviewed["model_accuracy_ci"]),
        "people_outcome_accuracy": pct(reviewed["final_accuracy"]),
        "people_outcome_ci": _ci(reviewed["final_accuracy_ci"]),
        "review_gain": f"{gain * 100:+.1f} points" if gain is not None else DASH,
        "thresholds": [_threshold_row(row, current) for row in report.thresholds],
        "current_threshold": f"{current:.2f}" if current is not None else DASH,
    }
