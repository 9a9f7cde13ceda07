"""Markdown to safe HTML for text people write in the app (model guidelines).

Python-Markdown renders with its raw-HTML handling switched off, so HTML written in the text
shows as text; nh3 (ammonia) then keeps only the tags Markdown produces, only http(s) and
mailto links, and gives every link ``rel="noopener noreferrer"``. The result is marked safe.
"""

from dataclasses import dataclass

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension

from reviewapp.models import GuidelineVersion
from reviewapp.models.guidelines import MAX_GUIDELINE_CHARS

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


class _NoRawHtml(Extension):
    """Treat HTML in the source as text (Markdown would pass it through)."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - the library's name
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def markdown_html(text: str) -> SafeString:
    """TEXT (Markdown) as sanitised HTML, safe to put in a page."""
    rendered = markdown.markdown(
        (text or "")[:MAX_GUIDELINE_CHARS], extensions=[_NoRawHtml(), "tables", "sane_lists"]
    )
    cleaned = nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return mark_safe(cleaned)


@dataclass(frozen=True)
class Definition:
    name: str
    text: str


@dataclass(frozen=True)
class GuidelinesView:
    """What the review page shows of a model's guidelines."""

    version: int | None
    html: SafeString
    labels: list[Definition]
    reasons: list[Definition]

    @property
    def is_empty(self) -> bool:
        return not (self.html or self.labels or self.reasons)

    def reason(self, code: str) -> str:
        return next((d.text for d in self.reasons if d.name == code), "")


def guidelines_view(
    guidelines: GuidelineVersion | None, *, labels: list[str], reason_codes: list[str]
) -> GuidelinesView:
    """GUIDELINES shaped for the page: the text as safe HTML and the definitions of LABELS and
    REASON_CODES, in their order, that were written."""
    if guidelines is None:
        return GuidelinesView(version=None, html=mark_safe(""), labels=[], reasons=[])
    label_text, reason_text = guidelines.label_definitions, guidelines.reason_definitions
    return GuidelinesView(
        version=guidelines.version,
        html=markdown_html(guidelines.text) if guidelines.text else mark_safe(""),
        labels=[Definition(x, label_text[x]) for x in labels if label_text.get(x)],
        reasons=[Definition(c, reason_text[c]) for c in reason_codes if reason_text.get(c)],
    )
