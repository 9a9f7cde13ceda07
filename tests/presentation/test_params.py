"""Request-parameter parsing: periods, dates, bands, health filters, form numbers, cursors."""

from datetime import date

import pytest

from reviewapp.errors import InvalidInput
from reviewapp.presentation.params import (
    HEALTH_DEFAULT_DAYS,
    band_parse,
    cursor_param,
    date_parse,
    form_date,
    form_number,
    health_filters,
    period_parse,
)
from reviewapp.selectors.metrics import MAX_PERIOD_DAYS

TODAY = date(2025, 3, 31)


def test_period_defaults_to_the_last_days_up_to_today():
    """No parameters: the last ``default_days`` days, today included."""
    assert period_parse({}, default_days=7, today=TODAY) == (date(2025, 3, 25), TODAY)
    assert period_parse({"days": "1"}, today=TODAY) == (TODAY, TODAY)


def test_period_takes_explicit_dates():
    """``from`` and ``to`` win over ``days``."""
    params = {"from": "2025-01-01", "to": "2025-01-31", "days": "7"}
    assert period_parse(params, today=TODAY) == (date(2025, 1, 1), date(2025, 1, 31))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"days": "0"}, "days"),
        ({"days": str(MAX_PERIOD_DAYS + 1)}, "days"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "from"),
    ],
)
def test_period_refuses_bad_input_naming_the_field(params, field):
    """Bad dates, bad presets, reversed or too long periods are InvalidInput on the field."""
    with pytest.raises(InvalidInput) as info:
        period_parse(params, today=TODAY)
    assert field in info.value.details


def test_date_and_band_parameters():
    """Optional date and band parameters: None when absent, InvalidInput when malformed."""
    assert date_parse({}, "from") is None
    assert date_parse({"from": " 2025-01-02 "}, "from") == date(2025, 1, 2)
    with pytest.raises(InvalidInput):
        date_parse({"from": "02/01/2025"}, "from")
    assert band_parse(None) is None
    assert band_parse("9") == 9
    for bad in ("10", "-1", "x"):
        with pytest.raises(InvalidInput):
            band_parse(bad)


def test_health_filters_fall_back_to_defaults():
    """Unknown periods and out-of-range targets fall back; good values are kept."""
    assert health_filters({"days": "90", "target": "5"}) == {"days": 90, "target_pct": 5.0}
    assert health_filters({"days": "12", "target": "99"}) == {
        "days": HEALTH_DEFAULT_DAYS,
        "target_pct": 2.0,
    }
    assert health_filters({"days": "x", "target": "nan%"})["days"] == HEALTH_DEFAULT_DAYS


def test_form_values_and_cursors():
    """Form dates and numbers raise InvalidInput on the field; bad cursors are ignored."""
    assert form_date("2025-01-31", "window_end") == date(2025, 1, 31)
    with pytest.raises(InvalidInput) as info:
        form_date("", "window_end")
    assert "window_end" in info.value.details
    assert form_number({"n": "7"}, "n", int, message="m", hint="h") == 7
    with pytest.raises(InvalidInput) as info:
        form_number({"n": "seven"}, "n", int, message="m", hint="h")
    assert info.value.details == {"n": ["h"]}
    assert cursor_param("42") == 42
    assert cursor_param("-1") is None
    assert cursor_param("abc") is None
    assert cursor_param(None) is None
