"""Checks for untrusted text and JSON before it reaches the database, shared by intake, the
review API and the pages. Neutral: it imports nothing from services, selectors, views or api.

A value that JSON can carry is not always one the database can store or a response can
render: NUL characters (PostgreSQL refuses them in ``text`` and ``jsonb``), lone surrogates
such as ``"\\ud800"`` (not encodable as UTF-8), non-finite numbers (``1e400`` parses as
``inf``; JSON has no spelling for it) and very deep nesting (which turns every recursive
reader into a ``RecursionError``). ``json_problems`` finds them, with their path, without
recursing, and ``text_problem`` does the same for one string.

Limits (settings, with these defaults):
``REVIEWAPP_MAX_JSON_DEPTH`` (32) nesting levels of objects and lists, the outermost counts as 1;
``REVIEWAPP_MAX_JSON_KEY_CHARS`` (200) characters per object key;
``REVIEWAPP_MAX_JSON_STRING_CHARS`` (100,000) characters per string value.
"""

import math
from typing import Any

from django.conf import settings

DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_KEY_CHARS = 200
DEFAULT_MAX_STRING_CHARS = 100_000
CONTAINERS = (dict, list)
SHOWN_KEY_CHARS = 40  # a key quoted in a path or message is cut to this many characters

NUL_MESSAGE = "Must not contain NUL (\\u0000) characters."
SURROGATE_MESSAGE = "Must be valid Unicode text (no lone surrogates such as \\ud800)."
NOT_FINITE_MESSAGE = "Not a finite number."


def max_json_depth() -> int:
    return int(getattr(settings, "REVIEWAPP_MAX_JSON_DEPTH", DEFAULT_MAX_DEPTH))


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (NUL, lone surrogate), or None when it can."""
    if "\x00" in value:
        return NUL_MESSAGE
    if value.isascii():  # the common case: no surrogate possible, no copy made
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def safe_text(value: str, *, limit: int = SHOWN_KEY_CHARS) -> str:
    """A string made safe to quote back in an error: NULs and lone surrogates spelled as
    escapes, cut to ``limit`` characters."""
    if len(value) > limit:
        value = value[:limit] + "…"
    value = value.replace("\x00", "\\u0000")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def json_problems(
    value: Any,
    *,
    path: str = "",
    limit: int = 1,
    max_depth: int | None = None,
    max_key_chars: int | None = None,
    max_string_chars: int | None = None,
) -> list[tuple[str, str]]:
    """The problems of a parsed JSON value as ``(path, message)`` pairs, at most ``limit`` of
    them; empty when the value is safe to store. Paths read like ``input.amount`` or
    ``explanation.contributions[0].weight`` (``path`` is the prefix).

    Walks with an explicit stack of containers: nesting deeper than ``max_depth`` is reported
    at the first container past the limit and not descended into, so the walk's cost and
    memory are bounded by the value's size, never by Python's recursion limit. Scalars are
    checked where they are found, so a container's own scalars are reported before what its
    nested containers hold."""
    if max_depth is None:
        max_depth = max_json_depth()
    if max_key_chars is None:
        max_key_chars = getattr(settings, "REVIEWAPP_MAX_JSON_KEY_CHARS", DEFAULT_MAX_KEY_CHARS)
    if max_string_chars is None:
        max_string_chars = getattr(
            settings, "REVIEWAPP_MAX_JSON_STRING_CHARS", DEFAULT_MAX_STRING_CHARS
        )
    problems: list[tuple[str, str]] = []
    if not isinstance(value, CONTAINERS):
        message = _scalar_problem(value, max_string_chars)
        return [(path, message)] if message is not None else []
    stack: list[tuple[dict | list, str, int]] = [(value, path, 1)]  # (container, path, depth)
    while stack and len(problems) < limit:
        node, where, depth = stack.pop()
        if depth > max_depth:
            problems.append((where, f"Nested deeper than {max_depth} levels."))
            continue
        nested: list[tuple[dict | list, str, int]] = []
        # The common case (short ASCII text without NUL, finite numbers) is decided inline;
        # anything else goes to the slower checks that name the problem.
        if isinstance(node, dict):
            for key, child in node.items():
                name = key if isinstance(key, str) else str(key)
                if "\x00" in name or len(name) > max_key_chars or not name.isascii():
                    message = text_problem(name)
                    if message is None and len(name) > max_key_chars:
                        message = f"Keys may be at most {max_key_chars:,} characters."
                    if message is not None:
                        problems.append((_path(where, name), message))
                        continue
                if isinstance(child, CONTAINERS):
                    nested.append((child, _path(where, name), depth + 1))
                elif (message := _scalar_problem(child, max_string_chars)) is not None:
                    problems.append((_path(where, name), message))
        else:
            for i, child in enumerate(node):
                if isinstance(child, CONTAINERS):
                    nested.append((child, f"{where}[{i}]", depth + 1))
                elif (message := _scalar_problem(child, max_string_chars)) is not None:
                    problems.append((f"{where}[{i}]", message))
        stack.extend(reversed(nested))  # nested containers in document order
    return problems[:limit]


def _scalar_problem(value: Any, max_string_chars: int) -> str | None:
    if isinstance(value, str):
        if "\x00" not in value and len(value) <= max_string_chars and value.isascii():
            return None  # the common case, decided without a copy
        message = text_problem(value)
        if message is None and len(value) > max_string_chars:
            message = f"At most {max_string_chars:,} characters."
        return message
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE_MESSAGE
    return None


def _path(parent: str, key: str) -> str:
    shown = safe_text(key)
    return f"{parent}.{shown}" if parent else shown
