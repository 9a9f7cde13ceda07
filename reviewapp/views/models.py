"""Pages (models). Placeholder until this area is built."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewapp/home.html")


urlpatterns = [
    path("", model_list, name="model-list"),
]
