"""The documentation page and the go-live page in a browser, at desktop and phone width: an
owner writes a version's documentation from the model page, a reviewer reaches it from the
case page, a manager reads the shadow-mode evidence. Neither page scrolls sideways or has a
critical or serious axe-core violation."""

import pytest

from reviewapp.models import Case, Role
from reviewapp.services.decisions import case_decide
from reviewapp.services.outcomes import outcomes_record
from reviewapp.services.policies import policy_decide, policy_propose
from reviewapp.services.queue import case_claim_next
from tests import factories
from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def shown(request, browser, live_server):
    context = browser.new_context(viewport=VIEWPORTS[request.param], base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, request.param
    context.close()


@pytest.fixture
def world(db):
    """A model in shadow mode with 1.0.0 active and 2.0.0 a candidate; 40 shadow cases
    decided blind (people agree on 34), outcomes for 20 of them; one case left waiting."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    people = {
        "owner": factories.make_user(Role.MODEL_OWNER, team=team, username="otto"),
        "manager": factories.make_user(Role.MANAGER, team=team, username="mona"),
        "reviewer": factories.make_user(Role.REVIEWER, team=team, username="rita"),
    }
    sa, _ = factories.make_service_account(ml_model)
    factories.make_cases(ml_model, 1, model_version="1.0.0", confidence=0.97)
    proposal = policy_propose(
        ml_model=ml_model, proposer=people["owner"], changes={"shadow_mode": True}
    )
    policy_decide(policy=proposal, manager=people["manager"], approve=True)
    ids = factories.make_cases(ml_model, 25, model_version="2.0.0", confidence=0.93)
    ids += factories.make_cases(ml_model, 15, model_version="2.0.0", confidence=0.62)
    for i in range(40):
        case = case_claim_next(ml_model=ml_model, reviewer=people["reviewer"])
        agree = i < 24 or 25 <= i < 35
        case_decide(
            case=case,
            reviewer=people["reviewer"],
            action="override",
            final_label="fraud" if agree else "legit",
            reason_code="" if agree else "wrong_label",
        )
    external = dict(Case.objects.filter(pk__in=ids[:20]).values_list("pk", "external_id"))
    items = [
        {"external_id": external[pk], "label": "fraud", "observed_at": "2025-03-10T09:00:00Z"}
        for pk in ids[:20]
    ]
    outcomes_record(ml_model=ml_model, items=items, actor=sa)
    factories.make_cases(ml_model, 1, model_version="2.0.0", confidence=0.5)
    return ml_model, people


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _no_blocking_axe_violations(page) -> None:
    """axe-core finds no critical or serious accessibility violation on the page."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    blocking = [v["id"] for v in violations if v.get("impact") in {"critical", "serious"}]
    assert blocking == [], blocking


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def test_owner_documents_a_version_and_a_reviewer_reads_it(shown, world):
    """From the model page the owner follows "documentation missing", saves revision 1 and
    sees it; the reviewer's case page links to the same card, read-only."""
    page, size = shown
    ml_model, _people = world
    _login(page, "otto")
    page.goto(f"/models/{ml_model.slug}/")
    row = page.locator("#versions tr", has_text="2.0.0")
    row.get_by_text("documentation missing").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("doc-missing").is_visible()
    page.fill("#id_intended_use", "Screen card payments for fraud before capture, EU only.")
    page.fill("#id_limitations", "Not validated above 10,000 EUR.\nWeak on day-old accounts.")
    page.fill("#id_training_data", "Chargebacks 2023-01 to 2024-06, labelled by disputes.")
    page.fill("#id_owner_contact", "Otto <otto@example.com>")
    page.fill("#id_oncall_contact", "#fraud-oncall, pager 555-0100")
    page.get_by_role("button", name="Save revision 1").click()
    page.wait_for_load_state("networkidle")
    assert "Revision 1" in page.get_by_test_id("doc-revision").inner_text()
    _no_sideways_scroll(page)
    _no_blocking_axe_violations(page)
    _shot(page, f"documentation-owner-{size}")
    page.goto(f"/models/{ml_model.slug}/")
    assert "documented (revision 1)" in page.locator("#versions").inner_text()

    page.context.clear_cookies()
    _login(page, "rita")
    page.goto("/review/")
    page.locator("form[action*='/next/'] button").first.click()
    page.wait_for_load_state("networkidle")
    link = page.get_by_test_id("about-model")
    href = link.get_attribute("href")
    assert href == f"/models/{ml_model.slug}/versions/2.0.0/documentation"
    page.goto(href)
    assert "Weak on day-old accounts." in page.get_by_test_id("documentation").inner_text()
    assert page.get_by_role("button", name="Save revision 2").count() == 0
    _no_sideways_scroll(page)
    _shot(page, f"documentation-reviewer-{size}")


def test_manager_reads_the_go_live_evidence(shown, world):
    """The go-live page shows 40 blind decisions, 85% agreement and the what-if table."""
    page, size = shown
    ml_model, _people = world
    _login(page, "mona")
    page.goto(f"/models/{ml_model.slug}/")
    page.locator("#versions").get_by_role("link", name="Go-live evidence").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("decided").inner_text() == "40"
    assert page.get_by_test_id("agreement").inner_text() == "85%"
    assert page.get_by_test_id("shadow-state").inner_text() == "shadow mode on"
    assert page.locator("[data-threshold='0.90']").is_visible()
    _no_sideways_scroll(page)
    _no_blocking_axe_violations(page)
    _shot(page, f"golive-{size}")
