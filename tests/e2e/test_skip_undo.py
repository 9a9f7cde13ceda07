"""Browser tests of skip, the no-unseen-decisions guard and undo on the reviewer's page, with
DEBUG on (as `make run` has it) and off (as in production)."""

import pytest

from reviewapp.models import Case, CaseSkip, CaseStatus, Decision, Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUARD_MS = 400  # static/reviewapp/js/review.js


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def mode(request, settings):
    """DEBUG on or off for the live server; returns the screenshot name prefix."""
    settings.DEBUG = request.param
    return "debug" if request.param else "production"


@pytest.fixture
def cases(db):
    """Three waiting cases of one model; the reviewer rita may claim them."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    factories.make_user(Role.REVIEWER, team=team, username="rita")
    return sorted(factories.make_cases(ml_model, 3, confidence=0.62))


def _shows(page, case_id: int) -> None:
    """Wait until the panel shows CASE_ID and its decision keys work (the guard is over)."""
    page.wait_for_selector(f'#case-panel[data-case-id="{case_id}"][data-keys-armed]')


def test_skip_then_next_gives_another_case(page, login, screenshot, mode, cases):
    """s gives the case back; n then brings another waiting case, not the skipped one."""
    first, second, _third = cases
    login("rita")
    page.keyboard.press("n")
    _shows(page, first)
    page.keyboard.press("s")
    page.wait_for_selector("#case-panel.rv-home")
    assert f"Skipped case #{first}" in page.locator("#case-panel").inner_text()
    screenshot(f"skip-then-queues-{mode}")
    page.keyboard.press("n")
    _shows(page, second)
    assert page.url.endswith(f"/review/case/{second}/")
    assert CaseSkip.objects.filter(case_id=first).count() == 1
    assert Case.objects.get(pk=first).status == CaseStatus.QUEUED


def test_double_press_decides_one_case_only(page, login, screenshot, mode, cases):
    """a, a in quick succession decides the shown case only: keys that land on the next case
    within the guard are ignored; once it is over, a decides the next case."""
    first, second, third = cases
    decide_posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            decide_posts.append(r.url) if r.method == "POST" and "/decide/" in r.url else None
        ),
    )
    login("rita")
    page.keyboard.press("n")
    _shows(page, first)
    page.keyboard.press("a")
    page.keyboard.press("a")
    page.wait_for_selector(f'#case-panel[data-case-id="{second}"]')
    page.keyboard.press("a")  # the new case has just appeared: ignored
    armed_after = page.evaluate(
        "() => new Promise(done => { const t0 = performance.now(); const check = () =>"
        " document.querySelector('#case-panel').hasAttribute('data-keys-armed')"
        " ? done(performance.now() - t0) : requestAnimationFrame(check); check(); })"
    )
    assert armed_after > 0  # the guard was still on when the key was pressed
    page.wait_for_timeout(300)
    assert len(decide_posts) == 1, decide_posts
    assert list(Decision.objects.values_list("case_id", flat=True)) == [first]
    assert page.locator("#case-panel").get_attribute("data-case-id") == str(second)
    screenshot(f"double-press-guard-{mode}")
    page.keyboard.press("a")
    _shows(page, third)
    assert sorted(Decision.objects.values_list("case_id", flat=True)) == [first, second]


def test_undo_within_the_window_restores_the_case(page, login, screenshot, settings, mode, cases):
    """After a decision the outcome line offers Undo (z); z brings the case back, claimed
    again and undecided; the button goes once the window has passed."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    first, second, _third = cases
    login("rita")
    page.keyboard.press("n")
    _shows(page, first)
    page.keyboard.press("a")
    _shows(page, second)
    undo = page.get_by_test_id("undo")
    assert undo.is_visible()
    assert "Undo" in undo.inner_text()
    screenshot(f"undo-offered-{mode}")
    page.keyboard.press("z")
    _shows(page, first)
    assert "was withdrawn" in page.locator("#case-panel").inner_text()
    assert page.url.endswith(f"/review/case/{first}/")
    case = Case.objects.get(pk=first)
    assert (case.status, case.assigned_to.username) == (CaseStatus.ASSIGNED, "rita")
    assert Decision.objects.get(case_id=first).undone_at is not None
    screenshot(f"undo-restored-{mode}")

    settings.REVIEWAPP_UNDO_WINDOW_S = 1
    page.get_by_role("button", name="Accept").click()
    _shows(page, second)  # the claim still held from before the undo
    assert page.get_by_test_id("undo").count() == 1
    page.wait_for_selector("[data-testid=undo]", state="detached", timeout=3000)
    page.keyboard.press("z")  # nothing to press any more
    page.wait_for_timeout(GUARD_MS)
    assert Decision.objects.filter(case_id=first, undone_at__isnull=True).count() == 1
