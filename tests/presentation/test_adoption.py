"""The adoption dashboard's tiles, tables and trust summary from a figures dict."""

from reviewapp.presentation.adoption import (
    DASH,
    FLAG_HELP,
    adoption_figures,
    breakdowns,
    reviewer_rows,
)
from reviewapp.selectors.metrics import FLAG_FAST

FIGURES = {
    "received": 1200,
    "auto_approved": 1000,
    "queued": 200,
    "sent_to_people_rate": 0.1667,
    "decided": 150,
    "accepted": 120,
    "overridden": 30,
    "acceptance_rate": 0.8,
    "override_rate": 0.2,
    "helpful_rate": None,
    "helpful_yes": 0,
    "helpful_no": 0,
    "time_to_decision_p50_s": 90.0,
    "time_to_decision_p90_s": 4000.0,
    "time_spent_p50_s": 12.0,
    "queue_wait_avg_s": 30.0,
    "active_reviewers": 3,
    "escalated": 2,
    "expired": 0,
    "sla_breached": 1,
    "override_reasons": {"wrong_label": 20, "policy": 10},
    "daily": [
        {
            "date": "2025-01-01",
            "acceptance_rate": 0.8,
            "override_rate": 0.2,
            "auto_approved": 1000,
            "queued": 200,
            "time_to_decision_p50_s": 90.0,
        }
    ],
    "by_reviewer": [
        {
            "reviewer": "ann",
            "acceptance_rate": 0.9,
            "override_rate": 0.1,
            "time_spent_p50_s": 3.0,
            "shown_accept_rate": 0.95,
            "blind_accept_rate": None,
            "blind_decided": 0,
            "agreement_gap": None,
            "flags": [FLAG_FAST],
        }
    ],
    "by_version": [
        {
            "version": "2.3.0",
            "received": 1200,
            "queued": 200,
            "decided": 150,
            "acceptance_rate": 0.8,
            "override_rate": 0.2,
        }
    ],
    "by_label": [],
    "by_band": [],
    "trust": {"shown_accept_rate": 0.8, "blind_accept_rate": 0.7, "agreement_gap": 0.1},
}


def test_tiles_and_trust_read_as_text():
    """Counts with separators, rates in percent, durations in units, the gap in points."""
    out = adoption_figures(FIGURES)
    tiles = {t["label"]: t for t in out["tiles"]}
    assert tiles["Cases received"]["value"] == "1,200"
    assert tiles["Acceptance"]["value"] == "80%"
    assert tiles["Time to decision"]["value"] == "1.5m · 1.1h"
    assert tiles["Escalated · expired"]["tone"] == "bad"
    assert out["trust"] == {"shown": "80%", "blind": "70%", "gap": "+10 pts"}
    assert out["queue_wait"] == "30s"
    assert set(out["charts"]) == {"rates", "volume", "ttd", "reasons"}
    assert "wrong_label" in out["charts"]["reasons"]


def test_reviewer_rows_explain_flags_and_dash_missing_blind_figures():
    """A flag carries its explanation; no blind decisions means a dash, no gap a dash."""
    (row,) = reviewer_rows(FIGURES)
    assert row["flag_help"] == [(FLAG_FAST, FLAG_HELP[FLAG_FAST])]
    assert row["blind"] == DASH
    assert row["gap"] == DASH
    assert row["spent"] == "3.0s"


def test_breakdowns_cover_version_label_and_band():
    """Three tables in order, rows formatted."""
    tables = breakdowns(FIGURES)
    assert [key for _, key, _ in tables] == ["version", "label", "band"]
    assert tables[0][2][0]["received"] == "1,200"
    assert tables[0][2][0]["ttd"] == DASH
