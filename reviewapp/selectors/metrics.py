"""Adoption metrics, read from the daily rollups (never from cases), and the trust signals.

``adoption_metrics`` answers for a set of models over [date_from, date_to] with optional
filters (model version, reviewer, predicted label, confidence band). It works per model and
day: each (model, day, filters) has a small *digest* (totals, per-version/label/band/reviewer
figures and merged histograms) computed from that day's rollup rows and kept in the cache
under the day's rollup generation (the ``refreshed_at`` of its rows), so a digest is reused
until that day is refreshed again; a 90-day page merges 90 digests. The periodic refresh
warms the unfiltered digests of the days it refreshed.

Case figures (received, auto-approved, queued, escalated, SLA breaches, expired) belong to
the day a case was received and are not split by reviewer: a reviewer filter narrows the
decision figures only. Decision figures belong to the day of the (current) decision.

``by_segment`` (``selectors.segments``) breaks the whole models' figures down by their declared
segment fields, with a disparity flag; the filters do not apply to it.

Trust signals (``by_reviewer[*]["flags"]``) are prompts for a conversation, not verdicts:
- "Fast accepts?" (rubber-stamping): at least ``MIN_SAMPLE`` decisions, a median time spent
  under half the peers' median, and an acceptance rate at least the peers'.
- "Overrides often?" (distrust): at least ``MIN_SAMPLE`` decisions and an override rate above
  the peers' rate by more than two standard errors (sqrt(p(1-p)/n)).
Peers are the other reviewers in the selection. Automation bias: agreement with the model
(acceptance) on blind-sampled cases against cases where the recommendation was shown, per
reviewer and overall, with the gap (shown minus blind; positive means people agree more when
they see the model's answer).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Max

from reviewapp.figures import BAND_COUNT, hist_merge, hist_quantile
from reviewapp.models import (
    CaseDailyRollup,
    DecisionDailyRollup,
    MLModel,
    ModelVersion,
    User,
)
from reviewapp.selectors.segments import segment_breakdown

MIN_SAMPLE = 20
FAST_FACTOR = 0.5
DISTRUST_SE = 2.0
MAX_PERIOD_DAYS = 366
CACHE_PREFIX = "adoption:v1"
CACHE_TIMEOUT_S = 8 * 24 * 3600

CASE_FIELDS = ("received", "auto_approved", "queued", "escalated", "sla_breached", "expired")
DEC_FIELDS = (
    "decided",
    "accepted",
    "overridden",
    "helpful_yes",
    "helpful_no",
    "time_to_decision_ms_sum",
    "time_spent_ms_sum",
)
FLAG_FAST = "Fast accepts?"
FLAG_OVERRIDES = "Overrides often?"


def band_label(band: int) -> str:
    """A confidence band as text: band 7 is "0.7-0.8" (with an en dash)."""
    upper = "1.0" if band >= BAND_COUNT - 1 else f"{(band + 1) / 10:.1f}"
    return f"{band / 10:.1f}\u2013{upper}"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _add(into: list, values) -> None:
    for i, v in enumerate(values):
        into[i] += v or 0


# ---------------------------------------------------------------------------------------------
# Digests: one (model, day, filters) worth of rollup rows, folded.


def _empty_digest() -> dict:
    return {
        "case": [0] * len(CASE_FIELDS),
        "case_by_version": {},
        "case_by_label": {},
        "case_by_band": {},
        "dec": [0] * len(DEC_FIELDS),
        "dec_by_version": {},
        "dec_by_label": {},
        "dec_by_band": {},
        "by_reviewer": {},  # (reviewer_id, was_blind) -> DEC_FIELDS
        "spent_by_reviewer": {},  # reviewer_id -> hist
        "ttd_by_version": {},  # version_id -> hist
        "ttd_hist": {},
        "spent_hist": {},
        "reasons": {},
    }


def _fold(digest: dict, table: str, key: Any, values) -> None:
    row = digest[table].setdefault(
        key, [0] * (len(CASE_FIELDS) if table.startswith("case") else len(DEC_FIELDS))
    )
    _add(row, values)


def _digests_compute(*, ml_model_id: int, days: list[date], filters: dict) -> dict[date, dict]:
    """Digests of several days of one model, from two queries on the rollup tables."""
    digests = {day: _empty_digest() for day in days}
    case_qs = CaseDailyRollup.objects.filter(ml_model_id=ml_model_id, day__in=days)
    dec_qs = DecisionDailyRollup.objects.filter(ml_model_id=ml_model_id, day__in=days)
    if filters.get("version_ids") is not None:
        case_qs = case_qs.filter(model_version_id__in=filters["version_ids"])
        dec_qs = dec_qs.filter(model_version_id__in=filters["version_ids"])
    if filters.get("label") is not None:
        case_qs = case_qs.filter(predicted_label=filters["label"])
        dec_qs = dec_qs.filter(predicted_label=filters["label"])
    if filters.get("band") is not None:
        case_qs = case_qs.filter(confidence_band=filters["band"])
        dec_qs = dec_qs.filter(confidence_band=filters["band"])
    if filters.get("reviewer_id") is not None:
        dec_qs = dec_qs.filter(reviewer_id=filters["reviewer_id"])
    for day, version_id, label, band, *counts in case_qs.values_list(
        "day", "model_version_id", "predicted_label", "confidence_band", *CASE_FIELDS
    ):
        d = digests[day]
        _add(d["case"], counts)
        _fold(d, "case_by_version", version_id, counts)
        _fold(d, "case_by_label", label, counts)
        _fold(d, "case_by_band", band, counts)
    for row in dec_qs.values_list(
        "day",
        "model_version_id",
        "reviewer_id",
        "predicted_label",
        "confidence_band",
        "was_blind",
        *DEC_FIELDS,
        "override_reasons",
        "time_to_decision_hist",
        "time_spent_hist",
    ):
        day, version_id, reviewer_id, label, band, blind = row[:6]
        counts = row[6 : 6 + len(DEC_FIELDS)]
        reasons, ttd_hist, spent_hist = row[6 + len(DEC_FIELDS) :]
        d = digests[day]
        _add(d["dec"], counts)
        _fold(d, "dec_by_version", version_id, counts)
        _fold(d, "dec_by_label", label, counts)
        _fold(d, "dec_by_band", band, counts)
        _fold(d, "by_reviewer", (reviewer_id, bool(blind)), counts)
        hist_merge(d["spent_by_reviewer"].setdefault(reviewer_id, {}), spent_hist or {})
        hist_merge(d["ttd_by_version"].setdefault(version_id, {}), ttd_hist or {})
        hist_merge(d["ttd_hist"], ttd_hist or {})
        hist_merge(d["spent_hist"], spent_hist or {})
        for code, n in (reasons or {}).items():
            d["reasons"][code] = d["reasons"].get(code, 0) + int(n)
    return digests


def _filters_key(filters: dict) -> str:
    raw = repr(sorted((k, v if not isinstance(v, list) else sorted(v)) for k, v in filters.items()))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _generations(ml_model_ids: list[int], date_from: date, date_to: date) -> dict:
    """{(model id, day): refreshed_at} of every day that has rollups."""
    return {
        (row["ml_model_id"], row["day"]): row["gen"]
        for row in CaseDailyRollup.objects.filter(
            ml_model_id__in=ml_model_ids, day__gte=date_from, day__lte=date_to
        )
        .values("ml_model_id", "day")
        .annotate(gen=Max("refreshed_at"))
        .order_by()
    }


def _cache_key(model_id: int, day: date, gen: datetime, fkey: str) -> str:
    return f"{CACHE_PREFIX}:{model_id}:{day.isoformat()}:{gen.timestamp():.6f}:{fkey}"


def _digests_for(
    *, ml_model_ids: list[int], date_from: date, date_to: date, filters_by_model: dict
) -> tuple[dict, datetime | None]:
    """{(model id, day): digest} for the days that have rollups, from the cache where
    possible; and the latest refresh time."""
    gens = _generations(ml_model_ids, date_from, date_to)
    keys = {
        mk: _cache_key(mk[0], mk[1], gen, _filters_key(filters_by_model[mk[0]]))
        for mk, gen in gens.items()
    }
    cached = cache.get_many(list(keys.values())) if keys else {}
    out: dict = {}
    missing: dict[int, list[date]] = defaultdict(list)
    for mk, key in keys.items():
        if key in cached:
            out[mk] = cached[key]
        else:
            missing[mk[0]].append(mk[1])
    to_store = {}
    for model_id, days in missing.items():
        for day, digest in _digests_compute(
            ml_model_id=model_id, days=days, filters=filters_by_model[model_id]
        ).items():
            out[(model_id, day)] = digest
            to_store[keys[(model_id, day)]] = digest
    if to_store:
        cache.set_many(to_store, CACHE_TIMEOUT_S)
    return out, max(gens.values()) if gens else None


def adoption_cache_warm(*, days: list[date] | None, ml_models: list[MLModel] | None = None) -> int:
    """Compute and cache the unfiltered digests of ``days`` (after a refresh). Returns how
    many (model, day) digests were written."""
    if not days:
        return 0
    model_ids = (
        [m.pk for m in ml_models]
        if ml_models
        else list(MLModel.objects.values_list("pk", flat=True))
    )
    digests, _ = _digests_for(
        ml_model_ids=model_ids,
        date_from=min(days),
        date_to=max(days),
        filters_by_model={m: {} for m in model_ids},
    )
    return len(digests)


# ---------------------------------------------------------------------------------------------
# Merging digests into the figures


def _dec_figures(values: list) -> dict:
    decided, accepted, overridden, h_yes, h_no = values[:5]
    return {
        "decided": decided,
        "accepted": accepted,
        "overridden": overridden,
        "acceptance_rate": _rate(accepted, decided),
        "override_rate": _rate(overridden, decided),
        "helpful_rate": _rate(h_yes, h_yes + h_no),
    }


def _case_figures(values: list) -> dict:
    figures = dict(zip(CASE_FIELDS, values, strict=True))
    figures["sent_to_people_rate"] = _rate(figures["queued"], figures["received"])
    return figures


def _merge_tables(digests: list[dict], table: str, width: int) -> dict:
    out: dict = {}
    for d in digests:
        for key, values in d[table].items():
            _add(out.setdefault(key, [0] * width), values)
    return out


def _merge_hists(digests: list[dict], table: str) -> dict:
    out: dict = {}
    for d in digests:
        for key, hist in d[table].items():
            hist_merge(out.setdefault(key, {}), hist)
    return out


def _trust(by_reviewer_blind: dict, spent_by_reviewer: dict, users: dict) -> tuple[list, dict]:
    """Per-reviewer rows with automation-bias figures and flags, and the overall figures."""
    per: dict[int, dict] = defaultdict(
        lambda: {"all": [0] * len(DEC_FIELDS), "blind": [0] * 7, "shown": [0] * 7}
    )
    for (reviewer_id, blind), values in by_reviewer_blind.items():
        _add(per[reviewer_id]["all"], values)
        _add(per[reviewer_id]["blind" if blind else "shown"], values)
    total = [0] * len(DEC_FIELDS)
    blind_total = [0] * len(DEC_FIELDS)
    shown_total = [0] * len(DEC_FIELDS)
    for p in per.values():
        _add(total, p["all"])
        _add(blind_total, p["blind"])
        _add(shown_total, p["shown"])
    all_spent: dict = {}
    for hist in spent_by_reviewer.values():
        hist_merge(all_spent, hist)

    rows = []
    for reviewer_id, p in per.items():
        decided, accepted, overridden = p["all"][0], p["all"][1], p["all"][2]
        if not decided:
            continue
        own_hist = spent_by_reviewer.get(reviewer_id, {})
        own_p50 = hist_quantile(own_hist, 0.5)
        peers = [t - o for t, o in zip(total, p["all"], strict=True)]
        peer_hist = {k: v - own_hist.get(k, 0) for k, v in all_spent.items()}
        peer_p50 = hist_quantile(peer_hist, 0.5)
        peer_accept = _rate(peers[1], peers[0])
        peer_override = _rate(peers[2], peers[0])
        flags = []
        if decided >= MIN_SAMPLE and peers[0] >= MIN_SAMPLE:
            if (
                own_p50 is not None
                and peer_p50
                and own_p50 < FAST_FACTOR * peer_p50
                and accepted / decided >= (peer_accept or 0)
            ):
                flags.append(FLAG_FAST)
            p_peer = min(max(peer_override or 0.0, 0.01), 0.99)
            se = math.sqrt(p_peer * (1 - p_peer) / decided)
            if overridden / decided > (peer_override or 0.0) + DISTRUST_SE * se:
                flags.append(FLAG_OVERRIDES)
        shown_rate = _rate(p["shown"][1], p["shown"][0])
        blind_rate = _rate(p["blind"][1], p["blind"][0])
        user = users.get(reviewer_id, {})
        rows.append(
            {
                "reviewer_id": reviewer_id,
                "reviewer": user.get("username", f"#{reviewer_id}"),
                "pseudonym": user.get("pseudonym", ""),
                **_dec_figures(p["all"]),
                "time_spent_p50_s": _seconds(own_p50),
                "peer_time_spent_p50_s": _seconds(peer_p50),
                "peer_override_rate": peer_override,
                "shown_decided": p["shown"][0],
                "shown_accept_rate": shown_rate,
                "blind_decided": p["blind"][0],
                "blind_accept_rate": blind_rate,
                "agreement_gap": (
                    round(shown_rate - blind_rate, 4)
                    if shown_rate is not None and blind_rate is not None
                    else None
                ),
                "flags": flags,
            }
        )
    rows.sort(key=lambda r: (-r["decided"], r["reviewer"]))
    shown_rate = _rate(shown_total[1], shown_total[0])
    blind_rate = _rate(blind_total[1], blind_total[0])
    overall = {
        "shown_decided": shown_total[0],
        "shown_accept_rate": shown_rate,
        "blind_decided": blind_total[0],
        "blind_accept_rate": blind_rate,
        "agreement_gap": (
            round(shown_rate - blind_rate, 4)
            if shown_rate is not None and blind_rate is not None
            else None
        ),
        "time_spent_p50_s": _seconds(hist_quantile(all_spent, 0.5)),
        "override_rate": _rate(total[2], total[0]),
        "min_sample": MIN_SAMPLE,
        "flagged": sum(1 for r in rows if r["flags"]),
    }
    return rows, overall


def _resolve_filters(
    ml_models: list[MLModel],
    model_version: ModelVersion | str | None,
    reviewer: User | int | None,
    label: str | None,
    band: int | None,
) -> dict[int, dict]:
    base: dict = {}
    if reviewer is not None:
        base["reviewer_id"] = reviewer.pk if isinstance(reviewer, User) else int(reviewer)
    if label:
        base["label"] = label
    if band is not None:
        base["band"] = int(band)
    by_model = {m.pk: dict(base) for m in ml_models}
    if model_version:
        version = (
            model_version.version if isinstance(model_version, ModelVersion) else model_version
        )
        ids: dict[int, list[int]] = {m.pk: [] for m in ml_models}
        for pk, model_id in ModelVersion.objects.filter(
            ml_model_id__in=list(by_model), version=version
        ).values_list("pk", "ml_model_id"):
            ids[model_id].append(pk)
        for model_id, version_ids in ids.items():
            by_model[model_id]["version_ids"] = version_ids
    return by_model


def adoption_metrics(
    *,
    ml_models: list[MLModel],
    date_from: date,
    date_to: date,
    model_version: ModelVersion | str | None = None,
    reviewer: User | int | None = None,
    label: str | None = None,
    band: int | None = None,
) -> dict[str, Any]:
    """The adoption figures of DESIGN.md for ``ml_models`` over [date_from, date_to]
    (inclusive calendar days), read from the rollups. See the module docstring."""
    ml_models = list(ml_models)
    filters_by_model = _resolve_filters(ml_models, model_version, reviewer, label, band)
    model_ids = [m.pk for m in ml_models]
    digests, refreshed_at = (
        _digests_for(
            ml_model_ids=model_ids,
            date_from=date_from,
            date_to=date_to,
            filters_by_model=filters_by_model,
        )
        if model_ids and date_from <= date_to
        else ({}, None)
    )
    n_days = max(0, (date_to - date_from).days + 1)
    all_days = [date_from + timedelta(days=i) for i in range(n_days)]
    by_day: dict[date, list[dict]] = defaultdict(list)
    for (_, day), digest in digests.items():
        by_day[day].append(digest)
    every = list(digests.values())

    # Totals
    case_tot = [0] * len(CASE_FIELDS)
    dec_tot = [0] * len(DEC_FIELDS)
    reasons: dict[str, int] = defaultdict(int)
    ttd_hist: dict = {}
    spent_hist: dict = {}
    for d in every:
        _add(case_tot, d["case"])
        _add(dec_tot, d["dec"])
        hist_merge(ttd_hist, d["ttd_hist"])
        hist_merge(spent_hist, d["spent_hist"])
        for code, n in d["reasons"].items():
            reasons[code] += n
    by_reviewer_blind = _merge_tables(every, "by_reviewer", len(DEC_FIELDS))
    spent_by_reviewer = _merge_hists(every, "spent_by_reviewer")
    active = {rid for (rid, _), v in by_reviewer_blind.items() if v[0]}

    # Daily trend
    daily = []
    for day in all_days:
        ds = by_day.get(day, [])
        c = [0] * len(CASE_FIELDS)
        dv = [0] * len(DEC_FIELDS)
        hist: dict = {}
        reviewers_today = set()
        for d in ds:
            _add(c, d["case"])
            _add(dv, d["dec"])
            hist_merge(hist, d["ttd_hist"])
            reviewers_today.update(rid for (rid, _), v in d["by_reviewer"].items() if v[0])
        daily.append(
            {
                "date": day.isoformat(),
                **_case_figures(c),
                **_dec_figures(dv),
                "active_reviewers": len(reviewers_today),
                "time_to_decision_p50_s": _seconds(hist_quantile(hist, 0.5)),
            }
        )

    # Breakdowns
    version_names = (
        dict(ModelVersion.objects.filter(ml_model_id__in=model_ids).values_list("pk", "version"))
        if model_ids
        else {}
    )
    multi = len(ml_models) > 1
    if multi:
        slugs = {m.pk: m.slug for m in ml_models}
        version_model = dict(
            ModelVersion.objects.filter(ml_model_id__in=model_ids).values_list("pk", "ml_model_id")
        )
        version_names = {
            pk: f"{slugs[version_model[pk]]}@{name}" for pk, name in version_names.items()
        }
    case_by_version = _merge_tables(every, "case_by_version", len(CASE_FIELDS))
    dec_by_version = _merge_tables(every, "dec_by_version", len(DEC_FIELDS))
    ttd_by_version = _merge_hists(every, "ttd_by_version")
    by_version = _breakdown(
        case_by_version,
        dec_by_version,
        name_of=lambda k: version_names.get(k, str(k)),
        key_name="version",
        ttd_hists=ttd_by_version,
    )
    by_label = _breakdown(
        _merge_tables(every, "case_by_label", len(CASE_FIELDS)),
        _merge_tables(every, "dec_by_label", len(DEC_FIELDS)),
        name_of=str,
        key_name="label",
    )
    by_band = _breakdown(
        _merge_tables(every, "case_by_band", len(CASE_FIELDS)),
        _merge_tables(every, "dec_by_band", len(DEC_FIELDS)),
        name_of=band_label,
        key_name="band",
        sort_key=lambda k: -int(k),
    )

    users = (
        {
            u["pk"]: u
            for u in User.objects.filter(pk__in=list(active)).values("pk", "username", "pseudonym")
        }
        if active
        else {}
    )
    reviewer_rows, trust = _trust(by_reviewer_blind, spent_by_reviewer, users)

    decided = dec_tot[0]
    ttd_sum_ms, spent_sum_ms = dec_tot[5], dec_tot[6]
    return {
        "models": [m.slug for m in ml_models],
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "filters": {
            "version": (
                model_version.version
                if isinstance(model_version, ModelVersion)
                else model_version or None
            ),
            "reviewer": filters_by_model[model_ids[0]].get("reviewer_id") if model_ids else None,
            "label": label or None,
            "band": band,
        },
        **_case_figures(case_tot),
        **_dec_figures(dec_tot),
        "override_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "time_to_decision_p50_s": _seconds(hist_quantile(ttd_hist, 0.5)),
        "time_to_decision_p90_s": _seconds(hist_quantile(ttd_hist, 0.9)),
        "time_to_decision_avg_s": _seconds(ttd_sum_ms / decided) if decided else None,
        "time_spent_p50_s": _seconds(hist_quantile(spent_hist, 0.5)),
        "time_spent_p90_s": _seconds(hist_quantile(spent_hist, 0.9)),
        "queue_wait_avg_s": (
            _seconds(max(0, ttd_sum_ms - spent_sum_ms) / decided) if decided else None
        ),
        "active_reviewers": len(active),
        "helpful_yes": dec_tot[3],
        "helpful_no": dec_tot[4],
        "daily": daily,
        "by_reviewer": reviewer_rows,
        "by_version": by_version,
        "by_label": by_label,
        "by_band": by_band,
        "trust": trust,
        # By declared segment value, whole models (the filters above do not apply).
        "by_segment": segment_breakdown(ml_models=ml_models, date_from=date_from, date_to=date_to),
        "refreshed_at": refreshed_at.isoformat() if refreshed_at else None,
    }


def _breakdown(
    case_table: dict,
    dec_table: dict,
    *,
    name_of,
    key_name: str,
    ttd_hists: dict | None = None,
    sort_key=None,
) -> list[dict]:
    rows = []
    for key in set(case_table) | set(dec_table):
        row = {
            key_name: name_of(key),
            **_case_figures(case_table.get(key, [0] * len(CASE_FIELDS))),
            **_dec_figures(dec_table.get(key, [0] * len(DEC_FIELDS))),
        }
        if key_name == "band":
            row["band_index"] = int(key)
        if ttd_hists is not None:
            row["time_to_decision_p50_s"] = _seconds(hist_quantile(ttd_hists.get(key, {}), 0.5))
        if row["received"] or row["decided"]:
            rows.append(row)
    if sort_key is None:
        rows.sort(key=lambda r: (-r["received"], -r["decided"], str(r[key_name])))
    else:
        by_name = {name_of(k): k for k in set(case_table) | set(dec_table)}
        rows.sort(key=lambda r: sort_key(by_name[r[key_name]]))
    return rows
