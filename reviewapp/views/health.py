"""The model-health page: live accuracy, drift, tripwires and alerts, threshold calibration.

Managers and model owners of the model's team see it, auditors read it (every change form is
hidden and refused on the server), reviewers and leads get 403. Reads are bounded: accuracy
and calibration are aggregate queries over the period; feature drift reads at most the
period's latest ``FEATURE_SAMPLE_CAP`` cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from reviewapp.charts import format_value, hbar_chart, svg_empty, svg_open
from reviewapp.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ReviewAppError
from reviewapp.models import (
    Alert,
    MLModel,
    PolicyStatus,
    RoutingPolicy,
    Tripwire,
    TripwireKind,
)
from reviewapp.permissions import (
    models_visible_to,
    user_can_manage_health,
    user_can_manage_model,
    user_can_view_dashboards,
)
from reviewapp.selectors.calibration import Band, calibration_report
from reviewapp.selectors.health import (
    FEATURE_SAMPLE_CAP,
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    AccuracyRow,
    accuracy_report,
    drift_report,
)
from reviewapp.services.access import permission_denied_record, require
from reviewapp.services.health import (
    KIND_LIMITS,
    alert_resolve,
    baseline_create,
    threshold_propose,
    tripwire_create,
    tripwire_disable,
)

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
DEFAULT_TARGET_PCT = 2.0
PAGE = "reviewapp/health/page.html"
DASH = "\u2013"


# --- access and errors --------------------------------------------------------------------


def _visible_models(user) -> list[MLModel]:
    if not user_can_view_dashboards(user):
        return []
    return [m for m in models_visible_to(user).select_related("team") if m is not None]


def _model_for(request: HttpRequest, slug: str, *, action: str) -> MLModel:
    """The model if the user may see its health; 403 for roles without dashboards, 404 alike
    for missing models and models of other teams (denials audited)."""
    user = request.user
    require(
        user_can_view_dashboards(user),
        user=user,
        action=action,
        target_type="mlmodel",
        target_id=slug,
    )
    ml_model = MLModel.objects.select_related("team").filter(slug=slug).first()
    if ml_model is None:
        raise NotFound(f"No model '{slug}'.")
    if not user_can_view_dashboards(user, ml_model):
        permission_denied_record(user=user, action=action, target_type="mlmodel", target_id=slug)
        raise NotFound(f"No model '{slug}'.")
    return ml_model


def _error_page(request: HttpRequest, exc: ReviewAppError) -> HttpResponse:
    return render(
        request,
        "reviewapp/health/error.html",
        {"message": exc.message, "status": exc.status_code},
        status=exc.status_code,
    )


def _page_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403/404 pages for refused and missing objects; bad input re-renders the page with the
    message and a 400 (409 for conflicts)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (PermissionDenied, NotFound) as exc:
            return _error_page(request, exc)
        except (InvalidInput, Conflict) as exc:
            details = "; ".join(
                f"{key}: {' '.join(map(str, msgs))}" for key, msgs in exc.details.items()
            )
            messages.error(request, exc.message + (f" ({details})" if details else ""))
            slug = kwargs.get("slug")
            if slug is None:
                return _error_page(request, exc)
            ml_model = _model_for(request, slug, action="health.view")
            context = _page_context(request, ml_model, _filters(request.POST or request.GET))
            return render(request, PAGE, context, status=exc.status_code)

    return wrapper


# --- filters --------------------------------------------------------------------------


def _filters(params) -> dict[str, Any]:
    try:
        days = int(params.get("days", DEFAULT_PERIOD))
    except (TypeError, ValueError):
        days = DEFAULT_PERIOD
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    try:
        target_pct = float(params.get("target", DEFAULT_TARGET_PCT))
    except (TypeError, ValueError):
        target_pct = DEFAULT_TARGET_PCT
    if not 0.1 <= target_pct <= 50:
        target_pct = DEFAULT_TARGET_PCT
    return {"days": days, "target_pct": round(target_pct, 2)}


def _page_url(ml_model: MLModel, filters: dict[str, Any], anchor: str = "") -> str:
    query = urlencode(
        {"model": ml_model.slug, "days": filters["days"], "target": f"{filters['target_pct']:g}"}
    )
    return f"{reverse('dashboard-health')}?{query}" + (f"#{anchor}" if anchor else "")


# --- charts (private SVGs; generic ones come from reviewapp.charts) ----------------------


NO_DECISIONS = "No decisions in this period"


def accuracy_ci_chart(rows: list[AccuracyRow], *, width: int = 560) -> SafeString:
    """Live accuracy per group as a dot with its 95% Wilson interval as a whisker (0..100%)."""
    rows = [r for r in rows if r.decided]
    label = "Live accuracy per model version with 95% confidence intervals"
    if not rows:
        return svg_empty("ci", width, 80, label, NO_DECISIONS)
    row_h, left, right, top = 30, 110, width - 20, 24
    height = top + row_h * len(rows) + 8
    plot_w = right - left

    def x_of(v: float) -> float:
        return left + plot_w * v

    out = [svg_open("ci", width, height, label)]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = x_of(tick)
        out.append(
            f'<line class="chart-grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" '
            f'y2="{height - 6}"/><text class="chart-tick" x="{x:.1f}" y="{top - 10}" '
            f'text-anchor="middle">{tick:.0%}</text>'
        )
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        low, high = row.interval
        title = escape(
            f"{row.key}: {row.accuracy:.1%} of {row.decided} (95% CI {low:.1%} to {high:.1%})"
        )
        out.append(
            f'<text class="chart-tick" x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(row.key)}</text>"
            f'<line class="ci-whisker" x1="{x_of(low):.1f}" x2="{x_of(high):.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"><title>{title}</title></line>'
            f'<line class="ci-cap" x1="{x_of(low):.1f}" x2="{x_of(low):.1f}" '
            f'y1="{y - 6:.1f}" y2="{y + 6:.1f}"/>'
            f'<line class="ci-cap" x1="{x_of(high):.1f}" x2="{x_of(high):.1f}" '
            f'y1="{y - 6:.1f}" y2="{y + 6:.1f}"/>'
            f'<circle class="ci-dot" cx="{x_of(row.accuracy or 0):.1f}" cy="{y:.1f}" r="5">'
            f"<title>{title}</title></circle>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))


def reliability_chart(curve: list[Band], *, size: int = 320) -> SafeString:
    """Accuracy against mean confidence per band, with the diagonal of perfect calibration;
    dot area follows the number of decided cases."""
    label = "Reliability curve: accuracy by confidence band"
    points = [b for b in curve if b.decided]
    if not points:
        return svg_empty("reliability", size + 60, size + 50, label, NO_DECISIONS)
    left, top, plot = 46, 12, size
    width, height = left + plot + 16, top + plot + 40

    def x_of(v: float) -> float:
        return left + plot * v

    def y_of(v: float) -> float:
        return top + plot * (1 - v)

    out = [svg_open("reliability", width, height, label)]
    out.extend(
        f'<line class="chart-grid" x1="{left}" x2="{left + plot}" y1="{y_of(tick):.1f}" '
        f'y2="{y_of(tick):.1f}"/><text class="chart-tick" x="{left - 6}" '
        f'y="{y_of(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        f'<text class="chart-tick" x="{x_of(tick):.1f}" y="{top + plot + 16}" '
        f'text-anchor="middle">{tick:.2f}</text>'
        for tick in (0, 0.25, 0.5, 0.75, 1.0)
    )
    out.append(
        f'<line class="reliability-ideal" x1="{x_of(0):.1f}" y1="{y_of(0):.1f}" '
        f'x2="{x_of(1):.1f}" y2="{y_of(1):.1f}"><title>Perfect calibration</title></line>'
        f'<text class="chart-tick" x="{left + plot / 2:.1f}" y="{top + plot + 34}" '
        'text-anchor="middle">model confidence</text>'
    )
    biggest = max(b.decided for b in points)
    path = []
    dots = []
    for band in points:
        x, y = x_of(band.mean_confidence or 0), y_of(band.accuracy or 0)
        path.append(f"{'M' if not path else 'L'}{x:.1f} {y:.1f}")
        radius = 3 + 7 * (band.decided / biggest) ** 0.5
        title = escape(
            f"confidence {band.label}: accuracy {band.accuracy:.1%} of {band.decided} decided "
            f"(mean confidence {band.mean_confidence:.2f})"
        )
        dots.append(
            f'<circle class="reliability-dot" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}">'
            f"<title>{title}</title></circle>"
        )
    out.append(f'<path class="reliability-line" d="{" ".join(path)}" fill="none"/>')
    out.extend(dots)
    out.append("</svg>")
    return mark_safe("".join(out))


# --- the page ------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return format_value(value, "percent") if value is not None else DASH


def _accuracy_rows(rows: list[AccuracyRow]) -> list[dict[str, Any]]:
    return [
        {
            "key": r.key,
            "decided": r.decided,
            "correct": r.correct,
            "accuracy": _pct(r.accuracy),
            "ci": f"{r.ci_low:.1%} to {r.ci_high:.1%}" if r.decided else DASH,
        }
        for r in rows
    ]


def _page_context(request: HttpRequest, ml_model: MLModel, filters: dict) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    start = now - timedelta(days=filters["days"])
    accuracy = accuracy_report(ml_model, start=start, end=now)
    drift = drift_report(ml_model, start=start, end=now)
    calibration = calibration_report(
        ml_model, start=start, end=now, target_error_rate=filters["target_pct"] / 100
    )
    tripwires = list(Tripwire.objects.filter(ml_model=ml_model).order_by("-enabled", "-id")[:50])
    open_alerts = list(
        Alert.objects.filter(ml_model=ml_model, resolved_at__isnull=True).order_by("-raised_at")
    )
    recent_alerts = list(
        Alert.objects.filter(ml_model=ml_model, resolved_at__isnull=False)
        .select_related("resolved_by")
        .order_by("-resolved_at")[:5]
    )
    pending = list(
        RoutingPolicy.objects.filter(ml_model=ml_model, status=PolicyStatus.PROPOSED).order_by(
            "-version"
        )[:5]
    )
    features_chart = hbar_chart(
        [(f.name, round(f.psi, 4)) for f in drift.features if f.psi is not None][:15],
        y_format="decimal",
        label="PSI per input feature",
        series_index=3,
        width=560,
    )
    current = calibration.current_threshold
    what_if = [
        {
            "threshold": f"{row.threshold:.2f}",
            "value": row.threshold,
            "share": _pct(row.share_to_people),
            "to_people": f"{row.to_people:,.0f}",
            "hours": f"{row.reviewer_hours:,.1f}" if row.reviewer_hours is not None else DASH,
            "error": _pct(row.error_rate),
            "sample": row.sample_size,
            "errors": row.errors_in_sample,
            "enough": row.enough_data,
            "meets": row.meets_target,
            "is_current": current is not None and abs(row.threshold - current) < 1e-9,
            "is_recommended": calibration.recommended is not None
            and row.threshold == calibration.recommended.threshold,
        }
        for row in calibration.what_if
    ]
    return {
        "ml_model": ml_model,
        "models": _visible_models(user),
        "filters": filters,
        "periods": PERIODS,
        "start": start,
        "end": now,
        "can_manage": user_can_manage_health(user, ml_model),
        "is_owner": user_can_manage_model(user, ml_model),
        "accuracy": accuracy,
        "overall_accuracy": _pct(accuracy.overall.accuracy),
        "overall_ci": _accuracy_rows([accuracy.overall])[0]["ci"],
        "version_rows": _accuracy_rows(accuracy.by_version),
        "label_rows": _accuracy_rows(accuracy.by_label),
        "accuracy_chart": accuracy_ci_chart(accuracy.by_version),
        "label_chart": accuracy_ci_chart(accuracy.by_label),
        "drift": drift,
        "psi_moderate": PSI_MODERATE,
        "psi_significant": PSI_SIGNIFICANT,
        "features_chart": features_chart,
        "sample_cap": FEATURE_SAMPLE_CAP,
        "calibration": calibration,
        "what_if": what_if,
        "reliability_chart": reliability_chart(calibration.curve),
        "curve_rows": [
            {
                "label": b.label,
                "decided": b.decided,
                "received": b.received,
                "accuracy": _pct(b.accuracy),
                "mean_confidence": f"{b.mean_confidence:.2f}" if b.decided else DASH,
            }
            for b in calibration.curve
        ],
        "recommended": calibration.recommended,
        "recommended_error": _pct(calibration.recommended.error_rate)
        if calibration.recommended
        else DASH,
        "median_time_s": calibration.median_time_ms / 1000
        if calibration.median_time_ms is not None
        else None,
        "tripwires": tripwires,
        "tripwire_kinds": [(kind.value, kind.label, KIND_LIMITS[kind][2]) for kind in TripwireKind],
        "open_alerts": open_alerts,
        "recent_alerts": recent_alerts,
        "pending_proposals": pending,
        "today": now.date(),
        "default_baseline_start": (now - timedelta(days=filters["days"])).date(),
        "page_url": _page_url(ml_model, filters),
    }


@require_GET
@login_required
@_page_errors
def health_page(request: HttpRequest) -> HttpResponse:
    """The model-health page for one model (?model=slug&days=30&target=2)."""
    user = request.user
    require(user_can_view_dashboards(user), user=user, action="health.view")
    filters = _filters(request.GET)
    slug = request.GET.get("model", "")
    if not slug:
        models = _visible_models(user)
        if not models:
            return render(request, PAGE, {"ml_model": None, "models": [], "filters": filters})
        slug = models[0].slug
    ml_model = _model_for(request, slug, action="health.view")
    context = _page_context(request, ml_model, filters)
    if request.htmx:
        return render(request, f"{PAGE}#health-body", context)
    return render(request, PAGE, context)


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(
            "Give dates as YYYY-MM-DD.", details={field: ["A date such as 2025-01-31."]}
        ) from None


def _parse_number(post, field: str, cast: type, *, default: str = "", message: str, hint: str):
    """POST[field] as CAST (float or int); InvalidInput with MESSAGE and HINT otherwise."""
    try:
        return cast(post.get(field, default))
    except ValueError:
        raise InvalidInput(message, details={field: [hint]}) from None


def _model_to_change(
    request: HttpRequest,
    slug: str,
    *,
    action: str,
    allowed: Callable[..., bool],
    target: tuple[str, int] | None = None,
) -> MLModel:
    """The model (see ``_model_for``) if ALLOWED(user, model) also holds, else 403 (audited
    against TARGET, a (type, id) pair, or the model)."""
    ml_model = _model_for(request, slug, action=action)
    target_type, target_id = target or ("mlmodel", slug)
    require(
        allowed(request.user, ml_model),
        user=request.user,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
    )
    return ml_model


def _of_model(model_class: type, pk: int, ml_model: MLModel, name: str):
    """The MODEL_CLASS row PK of ML_MODEL; 404 alike for missing rows and other models' rows."""
    obj = model_class.objects.filter(pk=pk, ml_model=ml_model).first()
    if obj is None:
        raise NotFound(f"No such {name}.")
    return obj


def _back(request: HttpRequest, ml_model: MLModel, anchor: str) -> HttpResponse:
    """Back to the page section, keeping the posted filters."""
    return redirect(_page_url(ml_model, _filters(request.POST), anchor))


@require_POST
@login_required
@_page_errors
def baseline_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The model owner picks the baseline window (whole days, UTC, end day included)."""
    ml_model = _model_to_change(
        request, slug, action="baseline.create", allowed=user_can_manage_model
    )
    first = _parse_date(request.POST.get("window_start", ""), "window_start")
    last = _parse_date(request.POST.get("window_end", ""), "window_end")
    baseline = baseline_create(
        ml_model=ml_model,
        actor=request.user,
        window_start=datetime.combine(first, time.min, tzinfo=UTC),
        window_end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
    )
    messages.success(
        request,
        f"Drift baseline set: {baseline.n_cases:,} cases from {first:%Y-%m-%d} to {last:%Y-%m-%d}.",
    )
    return _back(request, ml_model, "drift")


@require_POST
@login_required
@_page_errors
def tripwire_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    ml_model = _model_to_change(
        request, slug, action="tripwire.create", allowed=user_can_manage_health
    )
    post = request.POST
    invalid = "The tripwire is not valid."
    tripwire = tripwire_create(
        ml_model=ml_model,
        actor=request.user,
        kind=post.get("kind", ""),
        threshold=_parse_number(post, "threshold", float, message=invalid, hint="A number."),
        window_days=_parse_number(
            post, "window_days", int, default="7", message=invalid, hint="A whole number of days."
        ),
        notify_url=post.get("notify_url", ""),
        notify_email=post.get("notify_email", ""),
    )
    messages.success(request, f"Tripwire added: {tripwire.get_kind_display()}.")
    return _back(request, ml_model, "tripwires")


@require_POST
@login_required
@_page_errors
def tripwire_disable_view(request: HttpRequest, slug: str, tripwire_id: int) -> HttpResponse:
    ml_model = _model_to_change(
        request,
        slug,
        action="tripwire.disable",
        allowed=user_can_manage_health,
        target=("tripwire", tripwire_id),
    )
    tripwire = _of_model(Tripwire, tripwire_id, ml_model, "tripwire")
    tripwire_disable(tripwire=tripwire, actor=request.user)
    messages.success(request, "Tripwire disabled.")
    return _back(request, ml_model, "tripwires")


@require_POST
@login_required
@_page_errors
def alert_resolve_view(request: HttpRequest, slug: str, alert_id: int) -> HttpResponse:
    ml_model = _model_to_change(
        request,
        slug,
        action="alert.resolve",
        allowed=user_can_manage_health,
        target=("alert", alert_id),
    )
    alert = _of_model(Alert, alert_id, ml_model, "alert")
    alert_resolve(alert=alert, actor=request.user, note=request.POST.get("note", ""))
    messages.success(request, "Alert resolved.")
    return _back(request, ml_model, "alerts")


@require_POST
@login_required
@_page_errors
def threshold_propose_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The model owner turns a calibration threshold into a routing-policy proposal."""
    ml_model = _model_to_change(
        request, slug, action="policy.propose", allowed=user_can_manage_model
    )
    threshold = _parse_number(
        request.POST,
        "threshold",
        float,
        message="The threshold must be a number.",
        hint="Between 0 and 1.",
    )
    filters = _filters(request.POST)
    policy = threshold_propose(
        ml_model=ml_model,
        proposer=request.user,
        threshold=threshold,
        note=(
            f"Threshold calibration: review threshold {threshold:.2f} for an auto-approved "
            f"error rate under {filters['target_pct']:g}% (last {filters['days']} days)."
        ),
    )
    messages.success(
        request,
        f"Proposed policy v{policy.version} with review threshold {threshold:.2f}; "
        "it takes effect once a manager approves it.",
    )
    return redirect(_page_url(ml_model, filters, "calibration"))


urlpatterns = [
    path("", health_page, name="dashboard-health"),
    path("<slug:slug>/baseline/", baseline_create_view, name="health-baseline-create"),
    path("<slug:slug>/tripwires/", tripwire_create_view, name="health-tripwire-create"),
    path(
        "<slug:slug>/tripwires/<int:tripwire_id>/disable/",
        tripwire_disable_view,
        name="health-tripwire-disable",
    ),
    path(
        "<slug:slug>/alerts/<int:alert_id>/resolve/",
        alert_resolve_view,
        name="health-alert-resolve",
    ),
    path("<slug:slug>/propose/", threshold_propose_view, name="health-threshold-propose"),
]
