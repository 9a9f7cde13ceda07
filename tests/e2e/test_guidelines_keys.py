"""The guidelines panel and the override drawer's keys in a browser, DEBUG on and off, at
desktop and phone width: g toggles the panel, number keys pick a label then a reason, y marks
the explanation helpful, f jumps to the feedback box; the decision records the guidelines
version. A blind disagreement without a reason asks for one."""

import pytest

from reviewapp.models import Decision, GuidelineVersion, Role
from reviewapp.services.guidelines import guidelines_save
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}
MODES = {"debug": True, "production": False}
GUIDELINES = """## How to decide

Look at **account age** and the amount first. A new account buying electronics late at
night is the classic pattern; see [the fraud handbook](https://example.com/handbook).

1. Check the country against the card.
2. When the input lacks something you need, say so with `missing_context`.

<script>document.title = 'pwned'</script>
"""


@pytest.fixture(params=[(m, v) for m in MODES for v in VIEWPORTS], ids=lambda p: f"{p[0]}-{p[1]}")
def shown(request, browser, live_server, settings):
    """A browser page in one mode at one width; yields (page, name suffix for screenshots)."""
    mode, viewport = request.param
    settings.DEBUG = MODES[mode]
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, f"{mode}-{viewport}"
    context.close()


def _shots():
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def _shot(page, name: str) -> None:
    page.screenshot(path=str(_shots() / f"{name}.png"), full_page=True)


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_guidelines_panel_and_drawer_keys(shown):
    """g opens and closes the panel; 2 then 3 pick a label and a reason; y and f work."""
    page, suffix = shown
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(
        team=team, slug="fraud-screening", labels=("fraud", "legit", "review_later")
    )
    owner = factories.make_user(Role.MODEL_OWNER, team=team, username="olga")
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    guidelines_save(
        ml_model=ml_model,
        actor=owner,
        text=GUIDELINES,
        label_definitions={"fraud": "Stolen or tested card.", "legit": "A real customer."},
        reason_definitions={
            "wrong_label": "The model picked the wrong label from the same input.",
            "missing_context": "The input lacks what a person needed to decide.",
            "data_error": "The input itself is wrong.",
        },
    )
    (case_id,) = factories.make_cases(ml_model, 1, confidence=0.62)

    _login(page, reviewer.username)
    page.keyboard.press("n")
    page.wait_for_selector(f'#case-panel[data-case-id="{case_id}"][data-keys-armed]')
    panel = page.locator("#guidelines-panel")
    assert panel.get_attribute("open") is None
    page.keyboard.press("g")
    assert panel.get_attribute("open") is not None
    text = page.get_by_test_id("guidelines-text")
    assert "classic pattern" in text.inner_text()
    assert text.locator("script").count() == 0
    assert page.title() != "pwned"
    assert text.locator("a").get_attribute("rel") == "noopener noreferrer"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the panel must not widen the page"
    _shot(page, f"guidelines-panel-{suffix}")
    page.keyboard.press("g")
    assert panel.get_attribute("open") is None

    page.keyboard.press("o")
    label, reason = page.locator("#id_final_label"), page.locator("#id_reason_code")
    page.keyboard.press("2")  # the override labels are legit, review_later
    assert label.input_value() == "review_later"
    assert reason.evaluate("el => el === document.activeElement")
    page.keyboard.press("3")
    assert reason.input_value() == "data_error"
    assert "The input itself is wrong." in page.get_by_test_id("reason-definitions").inner_text()
    page.keyboard.press("2")
    assert reason.input_value() == "missing_context"
    assert label.input_value() == "review_later"
    _shot(page, f"guidelines-drawer-{suffix}")
    page.keyboard.press("y")
    assert page.locator("input[name=helpful][value=yes]").is_checked()
    page.keyboard.press("f")
    feedback = page.locator("#id_feedback")
    assert feedback.evaluate("el => el === document.activeElement")
    page.keyboard.type("Loyal customer.")
    assert feedback.input_value() == "Loyal customer."
    page.keyboard.press("o")  # typing in the box: o is a letter, not the drawer key
    assert feedback.input_value() == "Loyal customer.o"
    page.locator("#override-drawer [data-submit]").click()
    page.wait_for_selector("#case-panel.rv-home")
    decision = Decision.objects.get(case_id=case_id)
    assert (decision.final_label, decision.reason_code) == ("review_later", "missing_context")
    assert decision.explanation_helpful is True
    assert decision.feedback == "Loyal customer.o"
    assert decision.guidelines_version == 1


def test_blind_disagreement_asks_for_the_reason(page, login):
    """A blind label that differs, saved without a reason, reopens the drawer asking for one;
    the number key then picks it and Enter saves."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening", blind_sample_rate=1.0)
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    (case_id,) = factories.make_cases(ml_model, 1, confidence=0.62)

    login(reviewer.username)
    page.keyboard.press("n")
    page.wait_for_selector(f'#case-panel[data-case-id="{case_id}"][data-keys-armed]')
    page.keyboard.press("o")
    page.keyboard.press("2")  # blind: every label is offered, fraud then legit
    assert page.locator("#id_final_label").input_value() == "legit"
    assert page.locator("#id_reason_code").input_value() == ""
    page.keyboard.press("Enter")
    page.wait_for_selector(".rv-error")
    assert "choose the reason" in page.locator(".rv-error").inner_text()
    assert "fraud" not in page.locator(".rv-error").inner_text()
    assert page.locator("#override-drawer").get_attribute("open") is not None
    assert not Decision.objects.exists()
    page.locator("#id_reason_code").focus()
    page.keyboard.press("1")
    assert page.locator("#id_reason_code").input_value() == "wrong_label"
    page.keyboard.press("Enter")
    page.get_by_test_id("outcome").wait_for()
    decision = Decision.objects.get(case_id=case_id)
    assert (decision.action, decision.reason_code) == ("override", "wrong_label")


def test_owner_edits_the_guidelines_on_the_model_page(page, login):
    """The owner writes text and a definition, saves v1, and sees them rendered."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    owner = factories.make_user(Role.MODEL_OWNER, team=team, username="olga")

    login(owner.username)
    page.goto(f"/models/{ml_model.slug}/")
    page.get_by_text("Edit the guidelines").click()
    page.fill("#id_text", "## Decide\n\nCheck **account age** first.")
    page.fill("[name='label:fraud']", "Stolen or tested card.")
    page.get_by_role("button", name="Save as v1").click()
    page.wait_for_selector("#guidelines .badge")
    section = page.locator("#guidelines")
    assert "v1" in section.locator(".badge").inner_text()
    assert section.locator("strong", has_text="account age").count() == 1
    assert "Stolen or tested card." in section.inner_text()
    section.screenshot(path=str(_shots() / "guidelines-model-page.png"))
    assert GuidelineVersion.objects.get().label_definitions == {"fraud": "Stolen or tested card."}
