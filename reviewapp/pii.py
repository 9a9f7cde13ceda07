"""Masking the fields of a case that hold personal data (``MLModel.pii_fields``): pure
functions, no queries, so that every route (the label export, the case API, the case pages,
the feed and webhooks, the dashboards) masks the same way.

A masked value is a salted hash: ``"pii:"`` and the first 16 hex digits of
HMAC-SHA256(salt, canonical JSON of the value). The same value always masks to the same text
under one salt, so masked exports can still be joined and counted, but the value cannot be read
back or confirmed by hashing guesses without the salt. The salt is ``REVIEWAPP_PII_SALT``, or
when that is empty a key derived from ``SECRET_KEY`` (set REVIEWAPP_PII_SALT in production so
that rotating SECRET_KEY does not change every masked value).

A personal-data field names a key of a case's ``input`` or ``metadata`` (a key that is itself
written with dots, ``address.city``, is matched whole first; otherwise a dotted name walks into
nested objects). In an explanation, a contribution whose ``feature`` is such a field has its
``value`` masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings

MASK_PREFIX = "pii:"
DIGEST_CHARS = 16


def pii_salt() -> bytes:
    """The key of the salted hash (REVIEWAPP_PII_SALT, else derived from SECRET_KEY)."""
    configured = getattr(settings, "REVIEWAPP_PII_SALT", "") or ""
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"reviewapp.pii_salt", hashlib.sha256).digest()


def pii_digest(value: Any, *, salt: bytes | None = None) -> str | None:
    """VALUE as its masked text (``pii:`` + 16 hex digits). None stays None: a missing value
    is not personal data, and masking it would only hide that it is missing."""
    if value is None:
        return None
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    key = pii_salt() if salt is None else salt
    digest = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
    return MASK_PREFIX + digest[:DIGEST_CHARS]


def is_masked(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(MASK_PREFIX)
        and len(value) == len(MASK_PREFIX) + DIGEST_CHARS
    )


def _mask_path(data: dict, name: str, salt: bytes) -> dict:
    if name in data:
        return {**data, name: pii_digest(data[name], salt=salt)}
    head, _, rest = name.partition(".")
    if rest and isinstance(data.get(head), dict):
        return {**data, head: _mask_path(data[head], rest, salt)}
    return data


def pii_mask(
    values: dict | None, pii_fields: Iterable[str], *, keep: Iterable[str] = ()
) -> dict | None:
    """A copy of VALUES (a case's input or metadata) with every field of PII_FIELDS masked,
    except those in KEEP (fields a person has revealed). VALUES itself is left unchanged;
    anything that is not an object comes back as it is."""
    fields = [f for f in pii_fields if f not in set(keep)]
    if not isinstance(values, dict) or not fields:
        return values
    salt = pii_salt()
    masked = values
    for name in fields:
        masked = _mask_path(masked, name, salt)
    return masked


def explanation_mask(
    explanation: dict | None, pii_fields: Iterable[str], *, keep: Iterable[str] = ()
) -> dict | None:
    """A copy of an explanation whose contributions on personal-data features carry a masked
    ``value`` (feature names and weights are not personal data and stay)."""
    fields = set(pii_fields) - set(keep)
    if not isinstance(explanation, dict) or not fields:
        return explanation
    contributions = explanation.get("contributions")
    if not isinstance(contributions, list):
        return explanation
    salt = pii_salt()
    masked = [
        {**item, "value": pii_digest(item["value"], salt=salt)}
        if isinstance(item, dict) and item.get("feature") in fields and "value" in item
        else item
        for item in contributions
    ]
    return {**explanation, "contributions": masked}


def pii_value_mask(field: str, value: Any, pii_fields: Iterable[str]) -> Any:
    """One value of FIELD, masked when FIELD holds personal data (segment values on
    dashboards, drift categories)."""
    return pii_digest(value) if field in set(pii_fields) else value
