"""Phone width (390 x 844): no page scrolls sideways (tables scroll in their own box), the
menu button opens the navigation, and on the review page every action button, the opened
override drawer and the explanation chart (readable text) fit the screen. Screenshots of every
page at phone and desktop width go to test-artifacts/screenshots/ (phone-*.png, desktop-*.png)."""

import pytest

from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.site_pages import PageSpec, open_page, pages, seed, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 1000}

# Whatever sticks out of the viewport on the right, and whether html/body hide overflow (which
# would only mask it).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const hidden = [document.documentElement, document.body].some(
    el => ['hidden', 'clip'].includes(getComputedStyle(el).overflowX));
  const offenders = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 0.5) continue;
    let p = el.parentElement, scrolls = false;
    for (; p; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) {
        scrolls = true;
        break;
      }
    }
    if (!scrolls) offenders.push(`${el.tagName.toLowerCase()}.${el.classList} -> ${r.right | 0}`);
  }
  return {scrollWidth: document.scrollingElement.scrollWidth, width, hidden,
          offenders: offenders.slice(0, 8)};
}"""


@pytest.fixture
def context_for(browser, live_server):
    """New browser contexts at a given viewport, closed after the test."""
    made = []

    def _make(viewport: dict, **options):
        context = browser.new_context(viewport=viewport, base_url=live_server.url, **options)
        made.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield _make
    for context in made:
        context.close()


def _shot(page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    return box


def _inside(box: dict, viewport: dict = PHONE) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"] + 0.5
        and box["y"] + box["height"] <= viewport["height"] + 0.5
    )


def _visit_all(page, specs: list[PageSpec], prefix: str) -> list[str]:
    """Open every page, screenshot it, and list the pages that scroll sideways."""
    problems = []
    who = object()
    for spec in specs:
        if spec.username != who:
            sign_in(page, spec.username)
            who = spec.username
        problem = open_page(page, spec)
        if problem:
            problems.append(problem)
            continue
        _shot(page, f"{prefix}-{spec.name}")
        measured = page.evaluate(OVERFLOW_JS)
        if measured["hidden"]:
            problems.append(f"{spec.name}: html/body hide horizontal overflow")
        if measured["scrollWidth"] > measured["width"]:
            problems.append(
                f"{spec.name}: page is {measured['scrollWidth']} px wide: {measured['offenders']}"
            )
    return problems


def test_no_page_scrolls_sideways_on_a_phone(context_for):
    """At 390 px every page fits the width (scrollWidth <= 390); screenshots are saved."""
    site = seed()
    problems = _visit_all(context_for(PHONE), pages(site), "phone")
    assert not problems, "\n".join(problems)


def test_desktop_screenshots_and_no_sideways_scroll(context_for):
    """The same pages at desktop width (screenshots for people to look at)."""
    site = seed()
    problems = _visit_all(context_for(DESKTOP), pages(site), "desktop")
    assert not problems, "\n".join(problems)


def test_dark_theme_phone_screenshots(context_for):
    """The review pages in the dark theme at phone width fit the width."""
    site = seed()
    specs = [p for p in pages(site) if p.username in ("rita", "mona")]
    page = context_for(PHONE, color_scheme="dark")
    problems = _visit_all(page, specs, "phone-dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    assert not problems, "\n".join(problems)


def test_review_actions_and_override_drawer_fit_a_phone(context_for):
    """Accept/Override/Skip/Escalate sit in the viewport, the opened override drawer too, the
    action bar leaves the recommendation readable, and the chart's text is at least 11 px."""
    site = seed()
    page = context_for(PHONE)
    sign_in(page, "rita")
    assert not open_page(page, PageSpec("case", "rita", f"/review/case/{site.shown_case}/"))

    bar = page.locator("[data-review-actions]")
    buttons = {
        "Accept": bar.get_by_role("button", name="Accept"),
        "Override": bar.locator("#override-drawer > summary"),
        "Skip": bar.get_by_role("button", name="Skip"),
        "Escalate": bar.locator("#escalate-drawer > summary"),
    }
    for name, button in buttons.items():
        assert button.is_visible(), name
        assert _inside(_box(button)), (name, _box(button))

    sizes = page.locator("svg.xchart text").evaluate_all(
        """els => els.map(el => {
          const m = el.getScreenCTM();
          return parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b);
        })"""
    )
    assert sizes
    assert min(sizes) >= 11, sizes
    chart = _box(page.locator("svg.xchart"))
    assert chart["x"] >= 0
    assert chart["x"] + chart["width"] <= PHONE["width"]

    # Scrolled so that the recommendation's bottom edge is at the bottom of the screen, the
    # sticky bar sits below it rather than over it (scroll-padding keeps room for the bar).
    rec = page.get_by_test_id("recommendation")
    rec.evaluate("el => el.scrollIntoView({block: 'end'})")
    assert _box(rec)["y"] + _box(rec)["height"] <= _box(bar)["y"] + 1
    label = _box(page.get_by_test_id("predicted-label"))
    assert _inside(label)

    buttons["Override"].click()
    panel = page.locator("#override-drawer .rv-drawer-panel")
    panel.wait_for()
    assert _inside(_box(panel)), _box(panel)
    assert _inside(_box(panel.get_by_role("button", name="Save override")))
    assert page.evaluate(OVERFLOW_JS)["scrollWidth"] <= PHONE["width"]
    _shot(page, "phone-case-override-open", full_page=False)

    page.keyboard.press("Escape")
    buttons["Escalate"].click()
    panel = page.locator("#escalate-drawer .rv-drawer-panel")
    panel.wait_for()
    assert _inside(_box(panel)), _box(panel)
    assert page.evaluate(OVERFLOW_JS)["scrollWidth"] <= PHONE["width"]


def test_menu_button_opens_the_navigation_on_a_phone(context_for):
    """On a phone the nav and Sign out hide behind a menu button (a <details>) that opens
    them inside the screen, with or without JavaScript; a skip link leads to the content."""
    seed()
    for js in (True, False):
        page = context_for(PHONE, java_script_enabled=js)
        sign_in(page, "mona")
        page.goto("/dashboards/?model=fraud-screening&days=7")
        nav = page.get_by_role("navigation", name="Main")
        sign_out = page.get_by_role("button", name="Sign out")
        assert not sign_out.is_visible()
        page.locator(".topnav > summary").click()
        assert nav.get_by_role("link", name="Model health").is_visible()
        assert sign_out.is_visible()
        assert _inside(_box(sign_out)), _box(sign_out)
        assert _inside(_box(nav.get_by_role("link", name="Audit log").or_(nav.locator("a").last)))
        if js:
            _shot(page, "phone-menu-open", full_page=False)
        page.locator(".topnav > summary").click()
        assert not sign_out.is_visible()

    page = context_for(DESKTOP)
    sign_in(page, "mona")
    page.goto("/models/")
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert not page.locator(".topnav > summary").is_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    assert _box(skip)["y"] >= 0
    skip.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_review_actions_show_a_busy_state(context_for):
    """While an htmx action is in flight its buttons are disabled and the panel is busy."""
    site = seed()
    page = context_for(PHONE)
    sign_in(page, "rita")
    assert not open_page(page, PageSpec("case", "rita", f"/review/case/{site.shown_case}/"))
    # Hold the decision request until the busy state has been seen.
    held = []
    page.route("**/decide/", lambda route: held.append(route))
    page.get_by_role("button", name="Accept").click()
    page.wait_for_function("document.querySelector('#case-panel').getAttribute('aria-busy')")
    state = page.evaluate(
        """() => ({
          accept: document.querySelector('[data-review-actions] button[value=accept]').disabled,
          skip: document.querySelector('[data-review-actions] .rv-inline button').disabled,
          busy: document.querySelector('#case-panel').getAttribute('aria-busy'),
          cursor: getComputedStyle(document.querySelector('#case-panel')).cursor,
        })"""
    )
    _shot(page, "phone-case-busy", full_page=False)
    assert state == {"accept": True, "skip": True, "busy": "true", "cursor": "progress"}
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("[data-testid=outcome]")
    assert page.locator("#case-panel").get_attribute("aria-busy") is None
