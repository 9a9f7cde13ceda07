"""A clear 400 for query strings that no API operation can use: a NUL character in a
parameter name or value. PostgreSQL text cannot hold NUL, so such a value reached the
database as a 500 (``?external_id=a%00b``, ``?model=%00``, ``?version=%00``); it is refused
here once for every operation under /api/ instead of in each view."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from reviewapp.error_pages import api_error, is_api

NUL = "\x00"


def query_string_problems(request: HttpRequest) -> dict[str, list[str]]:
    """Messages by parameter name for every query parameter that holds a NUL."""
    problems: dict[str, list[str]] = {}
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            key = name.replace(NUL, "\\u0000")
            problems[key] = ["Must not contain NUL (\\u0000) characters."]
    return problems


class ApiQueryStringMiddleware:
    """Answers 400 with the API's error body before the view runs (see the module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problems = query_string_problems(request) if is_api(request) else {}
        if problems:
            name = next(iter(problems))
            return api_error(400, "invalid", f"{name}: {problems[name][0]}", problems)
        return self.get_response(request)
