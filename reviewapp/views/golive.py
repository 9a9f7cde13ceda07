"""The go-live page of a model (/models/<slug>/go-live), for the model's owners and the
team's managers: the evidence gathered in shadow mode (every case reviewed blind, nothing
auto-approved) comparing the model with the people, and the threshold what-if on it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from reviewapp.models import MLModel
from reviewapp.permissions import Capability, user_has
from reviewapp.presentation.golive import GOLIVE_PERIODS, golive_figures, golive_period
from reviewapp.selectors.golive import golive_report
from reviewapp.views.gate import model_page

PAGE = "reviewapp/models/golive.html"


@login_required
@require_GET
@model_page
def model_golive(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """Shadow-mode evidence for ML_MODEL over a period (?days=30, or ?from=&to=)."""
    date_from, date_to, start, end = golive_period(request.GET)
    report = golive_report(ml_model, start=start, end=end)
    context = {
        "ml_model": ml_model,
        "report": report,
        "date_from": date_from,
        "date_to": date_to,
        "days": (date_to - date_from).days + 1,
        "periods": GOLIVE_PERIODS,
        "can_manage": user_has(request.user, Capability.MANAGE_MODEL, ml_model),
        **golive_figures(report),
    }
    return render(request, PAGE, context)


urlpatterns = [
    path("<slug:slug>/go-live", model_golive, name="model-golive"),
]
