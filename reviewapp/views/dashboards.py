"""Pages (dashboards). Placeholder until this area is built."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


@login_required
def adoption(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewapp/home.html")


@login_required
def health(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewapp/home.html")


urlpatterns = [
    path("", adoption, name="dashboard-adoption"),
    path("health/", health, name="dashboard-health"),
]
