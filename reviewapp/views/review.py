"""Pages (review). Placeholder until this area is built."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


@login_required
def review_home(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewapp/home.html")


urlpatterns = [
    path("", review_home, name="review-home"),
]
