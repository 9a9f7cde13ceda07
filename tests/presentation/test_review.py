"""What a reviewer just saved, in words."""

from reviewapp.presentation.review import Outcome

BASE = {
    "case_id": 12,
    "action": "accept",
    "final_label": "fraud",
    "reason_code": "",
    "predicted_label": "fraud",
    "confidence": 0.62,
    "was_blind": False,
}


def test_outcome_text_for_accept_override_and_blind():
    """Accepts name the label, overrides the reason, blind reviews reveal the model's answer."""
    assert Outcome(**BASE).text == "Saved case #12: you accepted fraud."
    override = Outcome(
        **BASE | {"action": "override", "final_label": "legit", "reason_code": "wrong_label"}
    )
    assert override.text == "Saved case #12: you overrode fraud with legit (wrong label)."
    assert not override.agreed
    blind = Outcome(**BASE | {"was_blind": True, "action": "override", "final_label": "legit"})
    assert blind.text == (
        "Saved case #12. Blind review: the model said fraud (62%); you said legit."
    )
