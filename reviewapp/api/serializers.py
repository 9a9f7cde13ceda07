"""The API's response bodies as output serializers: each one is an OpenAPI component.

Responses are still built by the dict builders (``api.bodies.case_representation``,
``selectors.feed.decision_event``, ``selectors.metrics.adoption_metrics``,
``services.intake.ItemResult.as_dict`` and the claim-state builder in ``api.review``) because
they are on hot paths; these serializers are the documented contract, and
``tests/api/test_response_schema.py`` validates real responses against the schema they produce
(with undocumented fields refused), so the two cannot drift apart.

``ERROR_RESPONSES`` / ``error_responses`` document the one error body of DESIGN.md for the
4xx statuses an operation can answer.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from reviewapp.case_rules import BLIND_ROUTING_CODE
from reviewapp.models import CaseStatus, DecisionAction, Priority, Redaction, RoutingReason
from reviewapp.models.registry import FallbackAction

# ---------------------------------------------------------------------------------------------
# Errors


@extend_schema_serializer(component_name="ErrorInfo")
class ErrorInfoSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable code, e.g. invalid, not_found.")
    message = serializers.CharField(help_text="A sentence for people.")
    details = serializers.DictField(
        help_text="Per-field messages or extra figures (e.g. retry_after_s); may be empty."
    )


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The error body of every 4xx answer (DESIGN.md)."""

    error = ErrorInfoSerializer()


ERROR_TEXT = {
    400: "Invalid input or a malformed body.",
    401: "No credentials, or an invalid or revoked token.",
    403: "Your role may not do this.",
    404: "No such object, or one you may not see (the two answer alike).",
    409: "The request conflicts with the object's state.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    429: "Too many requests: retry after Retry-After seconds.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error body documented for each of ``codes`` (4xx statuses)."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=ERROR_TEXT[code])
        for code in codes
    }


# ---------------------------------------------------------------------------------------------
# Cases and decisions


@extend_schema_serializer(component_name="Decision")
class DecisionSerializer(serializers.Serializer):
    """``api.bodies.decision_representation``: the current human outcome of a case."""

    action = serializers.ChoiceField(choices=DecisionAction.choices)
    final_label = serializers.CharField()
    reason_code = serializers.CharField(allow_blank=True, help_text="Empty for an accept.")
    feedback = serializers.CharField(allow_blank=True)
    explanation_helpful = serializers.BooleanField(allow_null=True)
    decided_at = serializers.DateTimeField()
    reviewer = serializers.CharField(help_text="The reviewer's pseudonymous id.")
    was_blind = serializers.BooleanField(help_text="Decided without seeing the model's answer.")


@extend_schema_serializer(component_name="Opinion")
class OpinionSerializer(serializers.Serializer):
    """``api.bodies.opinion_representation``: one independent reviewer's answer on a case
    that needs several (second opinions). Not a decision: nothing is published for it."""

    action = serializers.ChoiceField(choices=DecisionAction.choices)
    final_label = serializers.CharField()
    reason_code = serializers.CharField(allow_blank=True, help_text="Empty for an accept.")
    feedback = serializers.CharField(allow_blank=True)
    given_at = serializers.DateTimeField()
    reviewer = serializers.CharField(help_text="The reviewer's pseudonymous id.")
    was_blind = serializers.BooleanField(help_text="Given without seeing the model's answer.")


@extend_schema_serializer(component_name="CasePrediction")
class CasePredictionSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    scores = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, help_text="Label to probability."
    )


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "feature": {"type": "string"},
            "value": {"description": "The feature's value (any JSON)."},
            "weight": {"type": "number"},
        },
        "required": ["feature", "weight"],
        # Intake keeps other keys of a contribution as submitted, and they are echoed back.
        "additionalProperties": True,
    }
)
class ContributionField(serializers.JSONField):
    """One signed feature contribution, as the model submitted it."""


@extend_schema_serializer(component_name="CaseExplanation")
class CaseExplanationSerializer(serializers.Serializer):
    method = serializers.CharField(required=False, help_text="e.g. shap")
    scale = serializers.ChoiceField(
        ["log_odds", "probability", "raw"],
        required=False,
        allow_null=True,
        help_text="What base_value plus the contributions add up to, when the model said.",
    )
    base_value = serializers.FloatField(required=False, allow_null=True)
    contributions = serializers.ListField(child=ContributionField(), required=False)
    summary = serializers.CharField(required=False, allow_null=True, allow_blank=True)


@extend_schema_serializer(component_name="Case")
class CaseSerializer(serializers.Serializer):
    """``api.bodies.case_representation``: the case body of DESIGN.md."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    model = serializers.CharField(help_text="The model's slug.")
    model_version = serializers.CharField()
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    routing_reason = serializers.CharField(
        allow_blank=True, help_text="Why the case went to people (or did not), as a sentence."
    )
    routing_reasons = serializers.ListField(
        child=serializers.ChoiceField([*RoutingReason.values, BLIND_ROUTING_CODE]),
        help_text=f"Routing reason codes; only '{BLIND_ROUTING_CODE}' while the answer is hidden.",
    )
    priority = serializers.ChoiceField(choices=[label for _, label in Priority.choices])
    input = serializers.DictField(
        help_text="Feature name to value, as submitted. The model's personal-data fields "
        "(pii_fields) read as a salted hash 'pii:<16 hex>' for everyone but the reviewers and "
        "leads of its team; {} once the content was removed (see 'redaction')."
    )
    prediction = CasePredictionSerializer(
        allow_null=True, help_text="Null while a blind-sampled case is undecided."
    )
    explanation = CaseExplanationSerializer(
        allow_null=True,
        help_text="Null when none was submitted, or while a blind-sampled case is undecided.",
    )
    metadata = serializers.DictField(help_text="As submitted, masked like 'input'.")
    redaction = serializers.ChoiceField(
        choices=Redaction.choices,
        allow_null=True,
        help_text="Why input, metadata, explanation and feedback were removed: 'retention' "
        "(the model's retention period passed) or 'erasure' (on request); null while kept.",
    )
    blind = serializers.BooleanField(help_text="Picked for review without the model's answer.")
    created_at = serializers.DateTimeField()
    sla_due_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    assigned_to = serializers.CharField(allow_null=True, help_text="The claimant's pseudonym.")
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    escalated = serializers.BooleanField()
    fallback_applied = serializers.ChoiceField(
        choices=FallbackAction.choices,
        allow_null=True,
        help_text="The policy's fallback, once the case expired.",
    )
    decision = DecisionSerializer(allow_null=True, help_text="The current decision, if any.")
    reviews_required = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=3,
        help_text="Independent reviewers the case needs (second opinions); null while the "
        "model's answer is hidden from the caller.",
    )
    opinions_given = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text="Independent opinions given so far (0 for a single-review case); null while "
        "the model's answer is hidden from the caller.",
    )
    opinions = OpinionSerializer(
        many=True,
        allow_null=True,
        help_text="The opinions given, for callers who may see them: not for someone who may "
        "still be asked for one (independence); a lead once the case is escalated; managers, "
        "owners, auditors and service accounts; everyone once decided. Null otherwise and "
        "for single-review cases.",
    )
    url = serializers.CharField(help_text="This case's path in the API.")


@extend_schema_serializer(component_name="CaseList")
class CaseListSerializer(serializers.Serializer):
    """Cases matching the caller's external_id (at most 100, oldest first)."""

    results = CaseSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Always null: at most 100 matches.")


@extend_schema_serializer(component_name="BatchItemResult")
class BatchItemResultSerializer(serializers.Serializer):
    """``services.intake.ItemResult.as_dict``."""

    index = serializers.IntegerField(help_text="Position of the item in the batch.")
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    external_id = serializers.CharField(
        required=False, help_text="Present when the item carried a string external_id."
    )
    id = serializers.IntegerField(required=False, help_text="The case id (created, duplicate).")
    error = ErrorInfoSerializer(
        required=False, help_text="For status error; details holds messages by field."
    )


@extend_schema_serializer(component_name="BatchCounts")
class BatchCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    error = serializers.IntegerField()


@extend_schema_serializer(component_name="BatchResult")
class BatchResultSerializer(serializers.Serializer):
    """One result per submitted item, in order, and how many of each status."""

    results = BatchItemResultSerializer(many=True, help_text="One per item, in order.")
    counts = BatchCountsSerializer()


# ---------------------------------------------------------------------------------------------
# Review workflow


@extend_schema_serializer(component_name="ClaimState")
class ClaimStateSerializer(serializers.Serializer):
    """``api.review._claim_state``: who holds a case and until when."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    assigned_to = serializers.CharField(allow_null=True, help_text="The claimant's pseudonym.")
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    escalated = serializers.BooleanField()


@extend_schema_serializer(component_name="SkipResult")
class SkipResultSerializer(ClaimStateSerializer):
    """``api.review.CaseSkipApi``: the skipped case's claim state (back in its queue), and
    until when its skipper's claims serve other waiting cases first."""

    skipped_until = serializers.DateTimeField(
        help_text="Until then the case comes back to you only when nothing else waits "
        "(REVIEWAPP_SKIP_COOLDOWN_S)."
    )


@extend_schema_serializer(component_name="DecisionResult")
class DecisionResultSerializer(serializers.Serializer):
    """The decision just taken on a case, or (second opinions) the opinion just given: then
    ``status`` is where the case went (``queued`` for the next reviewer, ``escalated`` to the
    leads when the opinions disagree) and ``decision`` is null until it is resolved."""

    case_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=[CaseStatus.DECIDED, CaseStatus.QUEUED, CaseStatus.ESCALATED]
    )
    decision = DecisionSerializer(allow_null=True)
    opinion = OpinionSerializer(
        required=False, help_text="Present when the answer was one independent opinion."
    )
    reviews_required = serializers.IntegerField(
        required=False, allow_null=True, help_text="As in the case body (with an opinion)."
    )
    opinions_given = serializers.IntegerField(
        required=False, allow_null=True, help_text="As in the case body (with an opinion)."
    )


@extend_schema_serializer(component_name="CaseComment")
class CaseCommentSerializer(serializers.Serializer):
    """``api.comments.comment_representation``: one comment of a case's conversation."""

    id = serializers.IntegerField()
    case_id = serializers.IntegerField()
    author = serializers.CharField(help_text="The author's pseudonym.")
    text = serializers.CharField(help_text="As written (plain text; render it escaped).")
    mentions = serializers.ListField(
        child=serializers.CharField(),
        help_text="Pseudonyms of the team members its @username words named.",
    )
    created_at = serializers.DateTimeField()


# ---------------------------------------------------------------------------------------------
# Decision feed


@extend_schema_serializer(component_name="DecisionEvent")
class DecisionEventSerializer(serializers.Serializer):
    """One feed row: ``selectors.feed.decision_event`` (``case.decided``) or
    ``selectors.feed.feed_event_row`` (``case.expired``; ``model.version_changed``,
    ``model.automation_suspended``, ``model.automation_resumed`` and ``alert.raised``, whose
    own fields are under ``data``), plus the row's cursor. Fields that only some events
    carry are optional (absent from the others)."""

    event = serializers.ChoiceField(
        choices=[
            "case.decided",
            "case.expired",
            "model.version_changed",
            "model.automation_suspended",
            "model.automation_resumed",
            "alert.raised",
        ]
    )
    decision_id = serializers.IntegerField(
        required=False, help_text="case.decided: the decision's id."
    )
    event_id = serializers.IntegerField(
        required=False, help_text="case.expired (and other non-decision events): its id."
    )
    case_id = serializers.IntegerField(required=False, help_text="Case events only.")
    external_id = serializers.CharField(required=False, help_text="Case events only.")
    model = serializers.CharField()
    model_version = serializers.CharField(required=False, help_text="Case events only.")
    action = serializers.ChoiceField(choices=DecisionAction.choices, required=False)
    data = serializers.DictField(
        required=False,
        help_text="Model and alert events: the event's own fields (as in its webhook body).",
    )
    final_label = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The label that stands: the reviewer's, or for case.expired with the "
        "apply_model fallback the model's; null for the reject and hold fallbacks.",
    )
    reason_code = serializers.CharField(allow_blank=True, required=False)
    feedback = serializers.CharField(allow_blank=True, required=False)
    decided_at = serializers.DateTimeField(required=False)
    fallback_applied = serializers.ChoiceField(
        choices=FallbackAction.choices,
        required=False,
        help_text="case.expired: the policy's fallback when the availability lifetime passed.",
    )
    expired_at = serializers.DateTimeField(required=False, allow_null=True)
    cursor = serializers.CharField(help_text="Pass as ?after= to read on from this row.")


@extend_schema_serializer(component_name="DecisionFeed")
class DecisionFeedSerializer(serializers.Serializer):
    """A page of the model's events (decisions, expiries) in feed order."""

    results = DecisionEventSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")


# ---------------------------------------------------------------------------------------------
# Adoption metrics (selectors.metrics.adoption_metrics)


def _rate(**kwargs) -> serializers.FloatField:
    """A share in [0, 1], null when there is nothing to divide by."""
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1, **kwargs)


def _seconds(**kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


class CaseFiguresSerializer(serializers.Serializer):
    """``_case_figures``: counts of cases received in the period (or row)."""

    received = serializers.IntegerField()
    auto_approved = serializers.IntegerField()
    queued = serializers.IntegerField()
    escalated = serializers.IntegerField()
    sla_breached = serializers.IntegerField()
    expired = serializers.IntegerField()
    sent_to_people_rate = _rate()


class DecisionFiguresSerializer(serializers.Serializer):
    """``_dec_figures``: counts and rates of the decisions taken in the period (or row)."""

    decided = serializers.IntegerField()
    accepted = serializers.IntegerField()
    overridden = serializers.IntegerField()
    acceptance_rate = _rate()
    override_rate = _rate()
    helpful_rate = _rate(help_text="Share of 'explanation helpful' answers that were yes.")


@extend_schema_serializer(component_name="AdoptionDay")
class AdoptionDaySerializer(CaseFiguresSerializer, DecisionFiguresSerializer):
    """One day of the period: cases received that day, decisions taken that day."""

    date = serializers.DateField()
    active_reviewers = serializers.IntegerField()
    time_to_decision_p50_s = _seconds()


@extend_schema_serializer(component_name="AdoptionReviewer")
class AdoptionReviewerSerializer(DecisionFiguresSerializer):
    """One reviewer's decisions, automation-bias figures and trust flags."""

    reviewer_id = serializers.IntegerField()
    reviewer = serializers.CharField(help_text="Username.")
    pseudonym = serializers.CharField(allow_blank=True)
    time_spent_p50_s = _seconds()
    peer_time_spent_p50_s = _seconds()
    peer_override_rate = _rate()
    shown_decided = serializers.IntegerField()
    shown_accept_rate = _rate()
    blind_decided = serializers.IntegerField()
    blind_accept_rate = _rate()
    agreement_gap = serializers.FloatField(
        allow_null=True, help_text="Shown minus blind acceptance rate."
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=["Fast accepts?", "Overrides often?"])
    )


@extend_schema_serializer(component_name="AdoptionVersionRow")
class AdoptionVersionRowSerializer(CaseFiguresSerializer, DecisionFiguresSerializer):
    """The figures of one model version."""

    version = serializers.CharField(help_text="Version name (model@version over several models).")
    time_to_decision_p50_s = _seconds()


@extend_schema_serializer(component_name="AdoptionLabelRow")
class AdoptionLabelRowSerializer(CaseFiguresSerializer, DecisionFiguresSerializer):
    """The figures of one predicted label."""

    label = serializers.CharField(help_text="Predicted label.")


@extend_schema_serializer(component_name="AdoptionBandRow")
class AdoptionBandRowSerializer(CaseFiguresSerializer, DecisionFiguresSerializer):
    """The figures of one confidence band, highest band first."""

    band = serializers.CharField(help_text='Confidence band as text, e.g. "0.7\u20130.8".')
    band_index = serializers.IntegerField(min_value=0, max_value=9)


@extend_schema_serializer(component_name="AdoptionTrust")
class AdoptionTrustSerializer(serializers.Serializer):
    """Automation bias and trust signals over all reviewers in the selection."""

    shown_decided = serializers.IntegerField()
    shown_accept_rate = _rate()
    blind_decided = serializers.IntegerField()
    blind_accept_rate = _rate()
    agreement_gap = serializers.FloatField(allow_null=True)
    time_spent_p50_s = _seconds()
    override_rate = _rate()
    min_sample = serializers.IntegerField(help_text="Decisions needed before a flag is raised.")
    flagged = serializers.IntegerField(help_text="Reviewers with at least one flag.")


@extend_schema_serializer(component_name="AdoptionFilters")
class AdoptionFiltersSerializer(serializers.Serializer):
    """The filters the figures were computed with (null: not filtered)."""

    version = serializers.CharField(allow_null=True)
    reviewer = serializers.IntegerField(allow_null=True)
    label = serializers.CharField(allow_null=True)
    band = serializers.IntegerField(allow_null=True)


def _ci_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1),
        min_length=2,
        max_length=2,
        allow_null=True,
        **kwargs,
    )


@extend_schema_serializer(component_name="SegmentRow")
class SegmentRowSerializer(serializers.Serializer):
    """``selectors.segments.segment_figures``: one value of a declared segment field, whole
    model (filters do not apply). Cases by the day received, decisions by the day taken,
    outcomes by the day observed."""

    value = serializers.CharField(help_text="The segment value (a string).")
    received = serializers.IntegerField()
    auto_approved = serializers.IntegerField()
    to_people = serializers.IntegerField(help_text="Received cases sent to people.")
    sent_to_people_rate = _rate()
    decided = serializers.IntegerField()
    accepted = serializers.IntegerField()
    overridden = serializers.IntegerField()
    acceptance_rate = _rate()
    override_rate = _rate()
    live_accuracy = _rate(help_text="Accepted / decided (an accept means the model was right).")
    live_accuracy_ci = _ci_field(help_text="95% Wilson interval; null without decisions.")
    rest_live_accuracy = _rate(help_text="Live accuracy of the field's other values.")
    outcomes = serializers.IntegerField(help_text="Outcomes observed in the period.")
    outcome_accuracy = _rate(help_text="Share of outcomes equal to the model's label.")
    outcome_accuracy_ci = _ci_field(help_text="95% Wilson interval; null without outcomes.")
    rest_outcome_accuracy = _rate(help_text="Outcome accuracy of the field's other values.")
    final_accuracy = _rate(
        help_text="Share of outcomes equal to the final label (a person's, else the model's)."
    )
    final_accuracy_ci = _ci_field(help_text="95% Wilson interval; null without outcomes.")
    disparity = serializers.BooleanField(
        help_text="Worse than the rest beyond both 95% intervals, with at least "
        "REVIEWAPP_SEGMENT_MIN_SAMPLE cases on each side."
    )
    disparity_on = serializers.ListField(
        child=serializers.ChoiceField(choices=["live_accuracy", "outcome_accuracy"]),
        help_text="The accuracies flagged.",
    )


def _by_segment() -> serializers.DictField:
    return serializers.DictField(
        child=SegmentRowSerializer(many=True),
        help_text="Declared segment field -> one row per value, most received first (at most "
        "100); an empty object when the model declares no segment fields.",
    )


@extend_schema_serializer(component_name="OpinionAgreementRow")
class OpinionAgreementRowSerializer(serializers.Serializer):
    compared = serializers.IntegerField(help_text="Pairs of answers on one case compared.")
    agreed = serializers.IntegerField(help_text="Of them, pairs naming the same label.")
    agreement_rate = _rate()


@extend_schema_serializer(component_name="OpinionAgreementReviewer")
class OpinionAgreementReviewerSerializer(OpinionAgreementRowSerializer):
    reviewer = serializers.CharField(help_text="Username.")


@extend_schema_serializer(component_name="OpinionAgreementPair")
class OpinionAgreementPairSerializer(OpinionAgreementRowSerializer):
    reviewers = serializers.ListField(
        child=serializers.CharField(), min_length=2, max_length=2, help_text="Usernames, sorted."
    )


@extend_schema_serializer(component_name="OpinionAgreement")
class OpinionAgreementSerializer(OpinionAgreementRowSerializer):
    """``presentation.opinions.agreement_figures``: how often independent reviewers (second
    opinions) named the same label, on cases whose opinions were given in the period."""

    cases = serializers.IntegerField(help_text="Cases with at least two opinions.")
    by_reviewer = OpinionAgreementReviewerSerializer(many=True)
    by_pair = OpinionAgreementPairSerializer(many=True)


@extend_schema_serializer(component_name="AdoptionMetrics")
class AdoptionMetricsSerializer(CaseFiguresSerializer, DecisionFiguresSerializer):
    """``selectors.metrics.adoption_metrics`` plus the period's rollup state: the figures
    shown on the adoption dashboard, with daily rows and breakdowns."""

    models = serializers.ListField(child=serializers.CharField(), help_text="Model slugs.")
    # "from" is a keyword: declare the two period fields through the class namespace.
    locals()["from"] = serializers.DateField(help_text="First day of the period.")
    locals()["to"] = serializers.DateField(help_text="Last day of the period (inclusive).")
    filters = AdoptionFiltersSerializer()
    override_reasons = serializers.DictField(
        child=serializers.IntegerField(), help_text="Reason code to count, most frequent first."
    )
    time_to_decision_p50_s = _seconds()
    time_to_decision_p90_s = _seconds()
    time_to_decision_avg_s = _seconds()
    time_spent_p50_s = _seconds()
    time_spent_p90_s = _seconds()
    queue_wait_avg_s = _seconds()
    active_reviewers = serializers.IntegerField()
    helpful_yes = serializers.IntegerField()
    helpful_no = serializers.IntegerField()
    daily = AdoptionDaySerializer(many=True, help_text="One row per day of the period.")
    by_reviewer = AdoptionReviewerSerializer(many=True)
    by_version = AdoptionVersionRowSerializer(many=True)
    by_label = AdoptionLabelRowSerializer(many=True)
    by_band = AdoptionBandRowSerializer(many=True)
    trust = AdoptionTrustSerializer()
    by_segment = _by_segment()
    second_opinions = OpinionAgreementSerializer(
        help_text="Agreement between independent reviewers (second opinions); JSON only."
    )
    refreshed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the newest rollup read was computed."
    )
    pending_days = serializers.ListField(
        child=serializers.DateField(), help_text="Days whose rollups are still being computed."
    )
    figures_as_of = serializers.DateTimeField(
        allow_null=True, help_text="When the oldest rollup of the period was computed."
    )


# ---------------------------------------------------------------------------------------------
# Non-JSON bodies and parameters

TEXT = OpenApiTypes.STR


def int_range(minimum: int, maximum: int | None = None) -> dict:
    """The schema of an integer query parameter with bounds (for ``OpenApiParameter``)."""
    schema: dict = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


# ---------------------------------------------------------------------------------------------
# Outcomes (ground truth) and quality metrics


OUTCOME_STATUSES = ["created", "duplicate", "conflict", "unknown_case", "error"]


@extend_schema_serializer(component_name="OutcomeItemResult")
class OutcomeItemResultSerializer(serializers.Serializer):
    """``services.outcomes.OutcomeResult.as_dict``."""

    index = serializers.IntegerField(help_text="Position of the item in the request.")
    status = serializers.ChoiceField(choices=OUTCOME_STATUSES)
    external_id = serializers.CharField(
        required=False, help_text="Present when the item carried a string external_id."
    )
    case_id = serializers.IntegerField(
        required=False, help_text="The case (created, duplicate, conflict)."
    )
    error = ErrorInfoSerializer(
        required=False,
        help_text="For conflict, unknown_case and error: code and messages by field.",
    )


@extend_schema_serializer(component_name="OutcomeCounts")
class OutcomeCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    conflict = serializers.IntegerField()
    unknown_case = serializers.IntegerField()
    error = serializers.IntegerField()


@extend_schema_serializer(component_name="OutcomeBatchResult")
class OutcomeBatchResultSerializer(serializers.Serializer):
    """One result per reported outcome, in order, and how many of each status."""

    results = OutcomeItemResultSerializer(many=True, help_text="One per item, in order.")
    counts = OutcomeCountsSerializer()


def _interval() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text="95% Wilson interval [low, high]; null with no cases.",
    )


@extend_schema_serializer(component_name="QualityAutoApproved")
class QualityAutoApprovedSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Auto-approved cases with an outcome.")
    model_accuracy = _rate(help_text="Share whose predicted label is the outcome.")
    model_accuracy_ci = _interval()


@extend_schema_serializer(component_name="QualityReviewed")
class QualityReviewedSerializer(QualityAutoApprovedSerializer):
    n = serializers.IntegerField(help_text="Cases with a current human decision and an outcome.")
    final_accuracy = _rate(help_text="Share whose final (human) label is the outcome.")
    final_accuracy_ci = _interval()


class QualityFiguresSerializer(serializers.Serializer):
    """``selectors.quality.quality_figures``."""

    outcomes = serializers.IntegerField(help_text="Cases with an outcome observed in the period.")
    auto_approved = QualityAutoApprovedSerializer()
    reviewed = QualityReviewedSerializer()
    review_gain = serializers.FloatField(
        allow_null=True,
        min_value=-1,
        max_value=1,
        help_text="Final minus model accuracy on reviewed cases; null without any.",
    )


@extend_schema_serializer(component_name="QualityVersionRow")
class QualityVersionRowSerializer(QualityFiguresSerializer):
    version = serializers.CharField()


@extend_schema_serializer(component_name="QualityMetrics")
class QualityMetricsSerializer(QualityFiguresSerializer):
    """``selectors.quality.quality_metrics``: did review help, against ground truth."""

    model = serializers.CharField(help_text="Model slug.")
    locals()["from"] = serializers.DateField(help_text="First day of the period.")
    locals()["to"] = serializers.DateField(help_text="Last day of the period (inclusive).")
    by_version = QualityVersionRowSerializer(many=True)
    by_segment = _by_segment()


# ---------------------------------------------------------------------------------------------
# Model documentation (the model card of one version)


@extend_schema_serializer(component_name="ModelDocumentationRevision")
class DocumentationRevisionSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(help_text="Pseudonymous id of the owner who saved it.")


@extend_schema_serializer(component_name="ModelDocumentationCard")
class DocumentationCardSerializer(DocumentationRevisionSerializer):
    intended_use = serializers.CharField()
    limitations = serializers.CharField()
    training_data = serializers.CharField(help_text="Training data provenance.")
    owner_contact = serializers.CharField()
    oncall_contact = serializers.CharField()


@extend_schema_serializer(component_name="ModelDocumentation")
class ModelDocumentationSerializer(serializers.Serializer):
    """``api.documentation``: the documentation in force for one model version and the list
    of its revisions (newest first). A version without one cannot be activated."""

    model = serializers.CharField(help_text="Model slug.")
    version = serializers.CharField()
    version_status = serializers.ChoiceField(["active", "candidate", "suspended", "retired"])
    documented = serializers.BooleanField()
    current = DocumentationCardSerializer(
        allow_null=True, help_text="The highest revision (in force); null when none."
    )
    revisions = DocumentationRevisionSerializer(many=True, help_text="Newest first.")
