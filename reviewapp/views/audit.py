"""Pages (audit). Placeholder until this area is built."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewapp/home.html")


urlpatterns = [
    path("", audit_log, name="audit-log"),
]
