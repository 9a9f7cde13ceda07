"""Markdown rendering of guidelines: useful formatting survives, HTML and scripts do not."""

from reviewapp.models import GuidelineVersion
from reviewapp.presentation.markdown import guidelines_view, markdown_html


def test_markdown_keeps_formatting_and_links_get_noopener():
    """Headings, emphasis, lists and http links render; links carry rel=noopener."""
    html = str(markdown_html("# Fraud\n\n- **card** testing\n\n[policy](https://example.com/p)"))
    assert "<h1>Fraud</h1>" in html
    assert "<li><strong>card</strong> testing</li>" in html
    assert '<a href="https://example.com/p" rel="noopener noreferrer">policy</a>' in html


def test_markdown_script_does_not_survive():
    """A <script> in the text shows as text, never as a tag; raw HTML does not pass."""
    html = str(markdown_html('Hi <script>alert(1)</script> <img src=x onerror="alert(2)">'))
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_markdown_drops_javascript_links():
    """javascript: (any case) and data: links lose their href."""
    html = str(markdown_html("[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:x)"))
    assert "javascript" not in html.lower()
    assert "data:" not in html
    assert "href" not in html


def test_guidelines_view_orders_definitions_and_skips_missing():
    """Definitions follow the label and code order given; unwritten ones are left out."""
    version = GuidelineVersion(
        version=3,
        text="",
        label_definitions={"legit": "Real customer.", "fraud": "Stolen card."},
        reason_definitions={"policy": "Policy says so."},
    )
    view = guidelines_view(
        version, labels=["fraud", "legit", "other"], reason_codes=["wrong_label", "policy"]
    )
    assert [d.name for d in view.labels] == ["fraud", "legit"]
    assert [d.name for d in view.reasons] == ["policy"]
    assert view.reason("policy") == "Policy says so."
    assert view.version == 3
    assert not view.is_empty
    assert guidelines_view(None, labels=["fraud"], reason_codes=[]).is_empty
