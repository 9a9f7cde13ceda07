"""axe-core (through axe-playwright-python, which ships axe.js: no network) on every page as the
role that uses it, with data on the page: no critical or serious violation. Desktop width in
production-like settings, light and dark colour schemes; the review page once more with
DEBUG on.

Pages (issue #9's list and more): login, review home, case page (shown and blind), queues,
adoption dashboard, model health, models, model detail, audit, a 403 page, My decisions,
My stats, and the read-only case record as a lead (with Reopen), with a comment thread, and
as an auditor."""

import json

import pytest

from reviewapp.models import Case, CaseStatus, User
from reviewapp.services.comments import comment_add
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.site_pages import PageSpec, Site, open_page, pages, seed, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKING = {"critical", "serious"}


def _blocking_violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in BLOCKING]


def _report(name: str, violations: list[dict]) -> str:
    lines = [f"{name}: {len(violations)} critical/serious axe violation(s)"]
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:6]:
            lines.append(f"    {json.dumps(node['target'])}: {node.get('failureSummary', '')}")
    return "\n".join(lines)


THREAD_REPLY = "@ben thanks; which of the transactions look linked to the ring?"


def all_pages(site: Site) -> list[PageSpec]:
    """``site_pages.pages`` plus the reviewer's own history and stats and the read-only case
    record: the escalated case with a comment thread (its escalation note, then a lead's
    reply with a mention) as the lead, and a decided case as the lead (Reopen) and the
    auditor (read-only)."""
    escalated = Case.objects.get(status=CaseStatus.ESCALATED)
    comment_add(case=escalated, author=User.objects.get(username="lee"), text=THREAD_REPLY)
    decided = Case.objects.filter(status=CaseStatus.DECIDED).order_by("id").first()
    return [
        *pages(site),
        PageSpec("my-decisions", "rita", "/review/history/"),
        PageSpec("my-stats", "rita", "/review/stats/"),
        PageSpec("case-record-thread", "lee", f"/cases/{escalated.pk}/"),
        PageSpec("case-record-lead", "lee", f"/cases/{decided.pk}/"),
        PageSpec("case-record-auditor", "audrey", f"/cases/{decided.pk}/"),
    ]


def _shows_what_it_should(page, spec: PageSpec) -> str:
    """A problem ("" if none) when a page checked for its content lacks it: the thread page
    must show both comments, the lead's record a Reopen button, so axe saw them."""
    wanted = {
        "case-record-thread": ["Looks like a known fraud ring.", THREAD_REPLY],
        "case-record-lead": ["Reopen"],
    }.get(spec.name, [])
    body = page.inner_text("body")
    missing = [text for text in wanted if text not in body]
    return f"{spec.name}: does not show {missing}" if missing else ""


def _check_all(browser, live_server, specs: list[PageSpec], **context_options) -> None:
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, base_url=live_server.url, **context_options
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    failures = []
    who = object()
    try:
        for spec in specs:
            if spec.username != who:
                sign_in(page, spec.username)
                who = spec.username
            problem = open_page(page, spec) or _shows_what_it_should(page, spec)
            if problem:
                failures.append(problem)
                continue
            scheme = context_options.get("color_scheme", "light")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"a11y-{scheme}-{spec.name}.png"))
            violations = _blocking_violations(page)
            if violations:
                failures.append(_report(spec.name, violations))
    finally:
        context.close()
    assert not failures, "\n".join(failures)


def test_every_page_has_no_serious_axe_violation(browser, live_server, settings):
    """Login, review, case (shown and blind), queues, dashboards, models, audit, a 403, My
    decisions, My stats and the read-only case record (with a comment thread): no critical
    or serious axe violation at desktop width with DEBUG off."""
    settings.DEBUG = False
    site = seed()
    specs = all_pages(site)
    assert len(specs) == 16
    _check_all(browser, live_server, specs)


def test_every_page_has_no_serious_axe_violation_in_the_dark_theme(browser, live_server, settings):
    """The same pages with prefers-color-scheme: dark (the dark theme's contrast)."""
    settings.DEBUG = False
    site = seed()
    _check_all(browser, live_server, all_pages(site), color_scheme="dark")


def test_review_pages_have_no_serious_axe_violation_with_debug_on(browser, live_server, settings):
    """The review pages as `make run` serves them (DEBUG on)."""
    settings.DEBUG = True
    site = seed()
    specs = [p for p in pages(site) if p.name.startswith(("review", "case"))]
    assert len(specs) == 3
    _check_all(browser, live_server, specs)


def test_axe_finds_a_planted_violation(browser, live_server, settings):
    """The check can fail: an image without alt text and a low-contrast line are reported."""
    settings.DEBUG = False
    site = seed()
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, base_url=live_server.url
    )
    page = context.new_page()
    try:
        sign_in(page, "rita")
        assert not open_page(page, pages(site)[1])
        page.evaluate(
            """() => {
              const p = document.createElement('p');
              p.textContent = 'faint text';
              p.className = 'muted';
              p.setAttribute('data-planted', '');
              document.querySelector('main').append(p);
              const sheet = new CSSStyleSheet();
              sheet.replaceSync('[data-planted] { color: #eee !important; }');
              document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
            }"""
        )
        ids = {v["id"] for v in _blocking_violations(page)}
    finally:
        context.close()
    assert "color-contrast" in ids
