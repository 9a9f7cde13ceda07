"""Demo data for the embedded mode (``manage.py seed_demo``): teams, one person per role, two
models whose cases come from real classifiers trained at seed time on data sets bundled with
scikit-learn (no downloads), a month of review history and the daily rollups behind the
dashboards.

The story it tells, per model: guidelines (Markdown, label and reason-code definitions); a
fresh queue with blind cases and an escalation carrying a conversation (the note, the lead's
reply mentioning @reviewer, the reviewer's answer); model cards on every version, the version
rolled out twelve days ago approved by a manager, and a later version sent by the service
account whose activation the owner proposed (waiting for approval, its cases queued as
``candidate_version``); ground truth for about 70% of the finished history ("Did review
help?"); segment fields, with the tumour model planted to be wrong more often at the
``riverside`` site (a flagged gap); and on the tumour model a personal field
(``metadata.patient_ref``) and a retention period (365 days: no demo case is removed).

It sits beside the management commands, above the services: everything goes through the
product's services (so it is audited like real use), and every step is skipped when its
result is already there: seeding twice changes nothing.

The classifiers are logistic regressions on standardised features, so each explanation is
exact on the log-odds scale (``"scale": "log_odds"``): base value plus contributions is the
logit of the predicted label's score, so the reviewer's page can show them adding up to the
confidence. Binary: a feature's contribution is the predicted class's coefficient (negated for
class 0) times the standardised value, and the base value is the intercept (likewise signed).
Multi-class (softmax): the log-odds of class k against the rest is
``s_k - logsumexp(s_j, j != k)`` with ``s_j = w_j . z + b_j``; writing the others' weights as
``pi_j = p_j / (1 - p_k)``, it equals ``s_k - sum_j pi_j s_j - H(pi)``, so a feature contributes
``(w_k - sum_j pi_j w_j) z`` and the base value is ``b_k - sum_j pi_j b_j - H(pi)`` (it varies a
little per case, between the intercept difference and that minus ln 2 for three classes).
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from reviewapp.models import (
    Case,
    CaseStatus,
    Comment,
    Decision,
    DriftBaseline,
    EscalationSource,
    GuidelineVersion,
    MLModel,
    ModelDocumentation,
    ModelVersion,
    Outcome,
    PolicyStatus,
    Role,
    RoutingPolicy,
    Team,
    TripwireKind,
    User,
    VersionStatus,
)
from reviewapp.services.accounts import service_account_create, team_get_or_create, user_create
from reviewapp.services.audit import audit_event_build, audit_record_many
from reviewapp.services.comments import comment_add
from reviewapp.services.decisions import case_decide
from reviewapp.services.documentation import documentation_save
from reviewapp.services.guidelines import guidelines_save
from reviewapp.services.health import baseline_create, tripwire_create, tripwires_check
from reviewapp.services.intake import cases_submit
from reviewapp.services.model_settings import model_configure
from reviewapp.services.outcomes import outcomes_record
from reviewapp.services.policies import model_register, policy_decide, policy_propose
from reviewapp.services.queue import case_claim_next, case_escalate, leases_expire
from reviewapp.services.rollups import rollups_refresh
from reviewapp.services.versions import version_activation_decide, version_activation_propose

DEFAULT_DEMO_PASSWORD = "review-demo-2024"  # noqa: S105 - the documented demo password
HISTORY_DAYS = 30
SUBMIT_BATCH = 250
# The waiting set: received over the last WAITING_SPAN_MIN minutes, so every waiting case is
# inside its SLA (240 minutes in the demo policy) and availability lifetime when seeding ends.
WAITING_SHARE = 0.15
WAITING_SPAN_MIN = 180
STALE_SLA_MARGIN = timedelta(minutes=45)
MIN_BLIND_WAITING = 3
CANDIDATE_WAITING = 5  # cases of the version waiting for approval kept in the queue
OUTCOME_SHARE = 0.7  # of the decided and auto-approved demo cases, given a true outcome
OUTCOME_BATCH = 1000
ESCALATION_NOTE = "Borderline values; I would like a lead to decide."
# Demo behaviour that gives the dashboards' trust signals something to show: reviewer2 is
# fast and rarely overrides ("Fast accepts?"); the lead overrides more than peers
# ("Overrides often?").
FAST_REVIEWER = "reviewer2"
OVERRIDING_REVIEWER = "lead"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    role: str
    teams: tuple[str, ...]
    first_name: str
    last_name: str


DEMO_TEAMS = ("clinical-triage", "trade-compliance")
DEMO_PEOPLE = (
    DemoPerson("reviewer", Role.REVIEWER, DEMO_TEAMS, "Rita", "Reyes"),
    DemoPerson("reviewer2", Role.REVIEWER, ("clinical-triage",), "Ravi", "Rao"),
    DemoPerson("lead", Role.LEAD, DEMO_TEAMS, "Lena", "Lindqvist"),
    DemoPerson("manager", Role.MANAGER, DEMO_TEAMS, "Mona", "Meyer"),
    DemoPerson("owner", Role.MODEL_OWNER, DEMO_TEAMS, "Otto", "Okafor"),
    DemoPerson("auditor", Role.AUDITOR, (), "Audrey", "Adams"),
    DemoPerson("admin", Role.ADMIN, (), "Ada", "Admin"),
)


@dataclass(frozen=True)
class DemoModelSpec:
    """How one demo model is built: its data set, labels, versions and traffic."""

    slug: str
    name: str
    team: str
    dataset: str  # a scikit-learn bundled loader: "breast_cancer" or "wine"
    labels: tuple[str, ...]  # in the data set's target order
    high_stakes: str
    prefix: str
    n_cases: int
    versions: tuple[tuple[str, float, float], ...]  # (version, C, share of rows trained on)
    noise: float  # multiplicative log-normal noise on a data set row (keeps values positive)
    drift_feature: str  # shifted in the last week, so drift views have something to show
    unseen_feature: tuple[str, Any]  # carried by a few inputs: routed to a human
    metadata: Callable[[random.Random], dict]
    # A later version the service account starts sending; its owner has proposed activating
    # it and it waits for a manager's approval: (version, C, share of rows trained on).
    candidate: tuple[str, float, float]
    segment_fields: tuple[str, ...] = ()
    # (segment field, value, share): where the metadata has that value, the true label differs
    # from the model's in that share of the cases more (a population the model serves badly).
    weak_segment: tuple[str, str, float] | None = None
    pii_fields: tuple[str, ...] = ()
    retention_days: int | None = None


def _tumour_metadata(rng: random.Random) -> dict:
    return {
        "source": "radiology-pacs",
        "site": rng.choice(["north", "central", "riverside"]),
        "patient_ref": f"PT-{rng.randrange(10**6):06d}",  # personal data: masked (pii_fields)
    }


def _wine_metadata(rng: random.Random) -> dict:
    return {
        "source": "customs-lab",
        "port": rng.choice(["rotterdam", "genoa", "hamburg", "antwerp"]),
        "declared_origin": "piedmont",
    }


DEMO_MODELS = (
    DemoModelSpec(
        slug="tumour-triage",
        name="Tumour triage (fine-needle aspirate)",
        team="clinical-triage",
        dataset="breast_cancer",
        labels=("malignant", "benign"),
        high_stakes="malignant",
        prefix="fna",
        n_cases=480,
        versions=(("3.1.0", 0.02, 0.5), ("3.2.0", 0.2, 0.8)),
        noise=0.25,
        drift_feature="mean_texture",
        unseen_feature=("scanner_firmware", "v7.2-beta"),
        metadata=_tumour_metadata,
        candidate=("4.0.0", 0.5, 1.0),
        segment_fields=("site",),
        weak_segment=("site", "riverside", 0.15),
        pii_fields=("patient_ref",),
        retention_days=365,  # longer than the demo's month: retention removes no demo case
    ),
    DemoModelSpec(
        slug="wine-provenance",
        name="Wine provenance check (Piedmont cultivars)",
        team="trade-compliance",
        dataset="wine",
        labels=("barolo", "grignolino", "barbera"),
        high_stakes="barolo",
        prefix="lot",
        n_cases=360,
        versions=(("1.4.0", 0.05, 0.5), ("1.5.0", 0.3, 0.8)),
        noise=0.1,
        drift_feature="color_intensity",
        unseen_feature=("vintage_year", 2019),
        metadata=_wine_metadata,
        candidate=("2.0.0", 0.5, 1.0),
        segment_fields=("port",),
    ),
)

DEMO_POLICY_CHANGES = {"review_threshold": 0.9, "sla_minutes": 240, "blind_sample_rate": 0.1}
FEEDBACK_OVERRIDE = (
    "Cell nuclei look irregular on the slide; model missed it.",
    "Chemistry points to a different cultivar.",
    "Sample looks contaminated; re-test requested.",
    "Clinical history changes the picture.",
    "",
    "",
)
FEEDBACK_ACCEPT = ("", "", "", "", "Clear case.", "Agree, top features make sense.")


# Guidelines per model: Markdown text, label definitions, reason-code definitions.
REASON_DEFINITIONS = {
    "wrong_label": "The evidence in the case points to another label than the model's.",
    "missing_context": "Something the model cannot see (history, notes) changes the answer.",
    "data_error": "The input is wrong or incomplete: a mis-keyed value, a failed measurement.",
    "policy": "A rule of ours decides this case, whatever the evidence says.",
    "other": "None of the above; say why in the feedback box.",
}
DEMO_GUIDELINES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "tumour-triage": (
        "## Tumour triage: how to review\n\n"
        "1. Read the **top contributions** first: size and concavity features carry most of "
        "the signal.\n"
        "2. If the prediction is *malignant*, accept only when at least two size or shape "
        "features agree.\n"
        "3. When values sit near the cut-off, or the case comes from a site with a new "
        "scanner, **escalate** rather than guess.\n\n"
        "Never write patient identifiers in feedback or comments.",
        {
            "malignant": "Cytology consistent with carcinoma: refer for biopsy.",
            "benign": "No malignant features: routine follow-up.",
        },
        REASON_DEFINITIONS,
    ),
    "wine-provenance": (
        "## Wine provenance: how to review\n\n"
        "- *Barolo* claims carry the highest duty: check **proline** and **flavanoids** "
        "before accepting.\n"
        "- Colour intensity drifts with vintage; do not override on colour alone.\n"
        "- If the lab sheet looks contaminated, choose `data_error` and ask for a re-test.",
        {
            "barolo": "Nebbiolo from the Barolo zone: high proline, high flavanoids.",
            "grignolino": "Grignolino: light colour, low alcohol.",
            "barbera": "Barbera: deep colour, high acidity, low flavanoids.",
        },
        REASON_DEFINITIONS,
    ),
}


@dataclass
class ModelSeedResult:
    slug: str
    cases_created: int = 0
    decisions_created: int = 0
    service_account: str = ""
    token: str = ""
    waiting_refreshed: int = 0
    waiting_added: int = 0
    outcomes_created: int = 0


@dataclass
class DemoSummary:
    teams: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    models: list[ModelSeedResult] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features): one row per class, binary expanded
    intercept: np.ndarray  # (n_classes,)
    classifier: Any


def _feature_name(raw: str) -> str:
    return "_".join(raw.replace("/", " ").replace("-", " ").split()).lower()


def _load(dataset: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn import datasets  # bundled files only: load_*, never fetch_*

    loader = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}[dataset]
    bunch = loader()
    return bunch.data, bunch.target, [_feature_name(n) for n in bunch.feature_names]


def _train(
    x: np.ndarray, y: np.ndarray, *, version: str, c: float, share: float, seed: int
) -> TrainedVersion:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = np.random.default_rng(seed).permutation(len(x))[: int(len(x) * share)]
    scaler = StandardScaler().fit(x[rows])
    classifier = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x[rows]), y[rows])
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:  # binary: the logit of class 1; class 0 is its negation
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
    return TrainedVersion(version, scaler.mean_, scaler.scale_, coef, intercept, classifier)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _log_odds_parts(
    model: TrainedVersion, *, z: np.ndarray, label_index: int
) -> tuple[np.ndarray, float]:
    """(per-feature contributions, base value) that add up exactly to the logit of the
    predicted label's probability (see the module docstring)."""
    k = label_index
    if model.coef.shape[0] == 2:  # binary, rows expanded as (-w, w): logit(p_k) = s_k
        return model.coef[k] * z, float(model.intercept[k])
    scores = model.coef @ z + model.intercept
    others = np.arange(len(scores)) != k
    shifted = np.exp(scores[others] - scores[others].max())
    pi = shifted / shifted.sum()  # p_j / (1 - p_k) over the other classes
    weights = (model.coef[k] - pi @ model.coef[others]) * z
    entropy = float(-(pi * np.log(np.clip(pi, 1e-300, None))).sum())
    base = float(model.intercept[k] - pi @ model.intercept[others]) - entropy
    return weights, base


def _explanation(
    model: TrainedVersion, *, row: np.ndarray, label_index: int, names: list[str], label: str
) -> dict:
    z = (row - model.scaler_mean) / model.scaler_scale
    weights, base = _log_odds_parts(model, z=z, label_index=label_index)
    # Every feature, strongest first, so that the parts add up to the logit (the page shows
    # the top ones and totals the rest).
    order = np.argsort(-np.abs(weights))
    contributions = [
        {"feature": names[i], "value": _round(row[i]), "weight": round(float(weights[i]), 4)}
        for i in order
    ]
    toward = [c for c in contributions if c["weight"] > 0][:2]
    against = [c for c in contributions if c["weight"] < 0][:1]

    def describe(c: dict) -> str:
        level = "high" if z[names.index(c["feature"])] > 0 else "low"
        return f"{c['feature'].replace('_', ' ')} ({level})"

    summary = f"Towards {label}: " + (", ".join(describe(c) for c in toward) or "no strong driver")
    if against:
        summary += f"; against: {describe(against[0])}"
    return {
        "method": "linear",
        "scale": "log_odds",
        "base_value": round(base, 4),
        "contributions": contributions,
        "summary": summary + ".",
    }


def _case_times(n: int, *, rng: random.Random, now: datetime) -> list[datetime]:
    """Submission times, oldest first: most over the last month, the newest ~15% in the last
    three hours (the cases still waiting in the queue)."""
    times = []
    for _ in range(n):
        if rng.random() < 0.15:
            times.append(now - timedelta(minutes=rng.uniform(2, 180)))
        else:
            times.append(now - timedelta(days=rng.uniform(1, HISTORY_DAYS)))
    return sorted(times)


def _build_items(
    spec: DemoModelSpec, *, now: datetime, seed: int, candidate: bool = False
) -> list[tuple[dict, str, datetime]]:
    """(submit body, true label, submission time) for each demo case of a model: from its
    first version before the rollout twelve days ago, from the second after it, or all from
    the candidate version with CANDIDATE."""
    x, y, names = _load(spec.dataset)
    trained = [
        _train(x, y, version=v, c=c, share=share, seed=seed + i)
        for i, (v, c, share) in enumerate(spec.versions if not candidate else (spec.candidate,))
    ]
    np_rng = np.random.default_rng(seed)
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    drift_index = names.index(spec.drift_feature)
    rollout = now - timedelta(days=12)
    items = []
    for i, created in enumerate(_case_times(spec.n_cases, rng=rng, now=now)):
        source = int(np_rng.integers(0, len(x)))
        row = x[source] * np.exp(np_rng.normal(0, spec.noise, x.shape[1]))
        if created > now - timedelta(days=7):
            row[drift_index] *= 1.3
        model = trained[0] if candidate or created < rollout else trained[-1]
        probabilities = model.classifier.predict_proba(
            ((row - model.scaler_mean) / model.scaler_scale).reshape(1, -1)
        )[0]
        label_index = int(np.argmax(probabilities))
        label = spec.labels[label_index]
        scores = {spec.labels[k]: round(float(p), 6) for k, p in enumerate(probabilities)}
        scores[label] = round(1 - sum(v for k, v in scores.items() if k != label), 6)
        data: dict[str, Any] = {name: _round(value) for name, value in zip(names, row, strict=True)}
        if rng.random() < 0.02:
            data[spec.unseen_feature[0]] = spec.unseen_feature[1]
        confidence = scores[label]
        priority = "normal"
        if label == spec.high_stakes and confidence > 0.9:
            priority = "high"
        elif rng.random() < 0.1:
            priority = "low"
        body = {
            "external_id": f"{spec.prefix}-{i + 1:06d}",
            "model_version": model.version,
            "input": data,
            "prediction": {"label": label, "confidence": confidence, "scores": scores},
            "explanation": _explanation(
                model, row=row, label_index=label_index, names=names, label=label
            ),
            "priority": priority,
            "metadata": spec.metadata(rng),
        }
        actual = spec.labels[int(y[source])]
        weak = spec.weak_segment
        if weak and body["metadata"].get(weak[0]) == weak[1] and rng.random() < weak[2]:
            actual = rng.choice([x for x in spec.labels if x != label])  # the model is wrong
        items.append((body, actual, created))
    return items


def demo_people_seed(*, password: str, summary: DemoSummary) -> dict[str, User]:
    teams = {slug: team_get_or_create(slug=slug) for slug in DEMO_TEAMS}
    summary.teams = list(teams)
    people: dict[str, User] = {}
    for person in DEMO_PEOPLE:
        user = User.objects.filter(username=person.username).first()
        if user is None:
            user = user_create(
                username=person.username,
                role=person.role,
                teams=[teams[slug] for slug in person.teams],
                password=password,
            )
            User.objects.filter(pk=user.pk).update(
                first_name=person.first_name, last_name=person.last_name
            )
            summary.users_created.append(person.username)
        people[person.username] = user
    return people


def _team(slug: str) -> Team:
    return Team.objects.get(slug=slug)


def _model_seed(
    spec: DemoModelSpec, *, people: dict[str, User], result: ModelSeedResult, seed: int
) -> MLModel:
    ml_model = MLModel.objects.filter(slug=spec.slug).first()
    if ml_model is None:
        _x, _y, names = _load(spec.dataset)
        ml_model = model_register(
            slug=spec.slug,
            name=spec.name,
            labels=list(spec.labels),
            team=_team(spec.team),
            input_schema=dict.fromkeys(names, "number"),
            actor=people["owner"],
        )
    active = RoutingPolicy.objects.get(ml_model=ml_model, status=PolicyStatus.ACTIVE)
    wanted = {**DEMO_POLICY_CHANGES, "always_review_labels": [spec.high_stakes]}
    pending = RoutingPolicy.objects.filter(ml_model=ml_model, status=PolicyStatus.PROPOSED)
    if active.version == 1 and not pending.exists():
        proposal = policy_propose(
            ml_model=ml_model,
            proposer=people["owner"],
            changes=wanted,
            note="Review everything below 0.90 and every high-stakes prediction.",
        )
        policy_decide(policy=proposal, manager=people["manager"], approve=True, note="Agreed.")
    account = User.objects.filter(service_model=ml_model).order_by("pk").first()
    if account is None:
        account, result.token = service_account_create(ml_model=ml_model, actor=people["admin"])
    result.service_account = account.username
    # Owner-level settings before any case arrives, so intake reads the segments of each.
    model_configure(
        ml_model=ml_model,
        actor=people["owner"],
        segment_fields=list(spec.segment_fields),
        pii_fields=list(spec.pii_fields),
        retention_days=spec.retention_days,
    )
    _guidelines_seed(spec, ml_model=ml_model, people=people)
    if not Case.objects.filter(ml_model=ml_model).exists():
        _cases_seed(
            spec, ml_model=ml_model, account=account, people=people, result=result, seed=seed
        )
    # A demo seeded before versions needed approval has its rollout version still waiting.
    _rollout_approve(spec, ml_model, version=spec.versions[-1][0], people=people)
    _documentation_seed(spec, ml_model=ml_model, people=people)
    return ml_model


def _guidelines_seed(spec: DemoModelSpec, *, ml_model: MLModel, people: dict[str, User]) -> None:
    """The model's guidelines, written once by its owner (through the guidelines service)."""
    if GuidelineVersion.objects.filter(ml_model=ml_model).exists():
        return
    text, labels, reasons = DEMO_GUIDELINES[spec.slug]
    codes = ml_model.policies.get(status=PolicyStatus.ACTIVE).reason_codes
    guidelines_save(
        ml_model=ml_model,
        actor=people["owner"],
        text=text,
        label_definitions=labels,
        reason_definitions={code: reasons[code] for code in codes if code in reasons},
    )


DEMO_DOCUMENTATION = {
    "tumour-triage": (
        "Triage of fine-needle aspirate cytology into malignant or benign, to order the "
        "pathologists' queue. Not a diagnosis: every malignant prediction is reviewed.",
        "Trained on one hospital's slides; sites with other scanners (riverside) are served "
        "less well. Not validated for patients under 18.",
        "otto.okafor@example.org (Otto Okafor, model owner)",
        "clinical-triage on-call, +44 20 7946 0100",
    ),
    "wine-provenance": (
        "Screening of declared Piedmont cultivars at customs from the lab's chemical "
        "analysis; a mismatch sends the lot to a compliance officer.",
        "Three cultivars only; blends and vintages before 2015 are outside its range.",
        "otto.okafor@example.org (Otto Okafor, model owner)",
        "trade-compliance on-call, +39 011 555 0199",
    ),
}


def _documentation_ensure(
    spec: DemoModelSpec, *, version: ModelVersion, people: dict[str, User]
) -> None:
    """The version's model card, written by the owner (the service writes nothing when the
    same texts are in force): activation needs one."""
    trained = {v: (c, share) for v, c, share in (*spec.versions, spec.candidate)}
    if version.version not in trained:
        return
    c, share = trained[version.version]
    intended_use, limitations, owner_contact, oncall_contact = DEMO_DOCUMENTATION[spec.slug]
    documentation_save(
        model_version=version,
        actor=people["owner"],
        intended_use=intended_use,
        limitations=limitations,
        training_data=(
            f"scikit-learn's bundled '{spec.dataset}' data set: a logistic regression "
            f"(C={c}) on standardised features, trained on {share:.0%} of its rows."
        ),
        owner_contact=owner_contact,
        oncall_contact=oncall_contact,
    )


def _documentation_seed(spec: DemoModelSpec, *, ml_model: MLModel, people: dict[str, User]) -> None:
    """Every demo version of the model has its model card (written once)."""
    documented = set(
        ModelDocumentation.objects.filter(model_version__ml_model=ml_model).values_list(
            "model_version_id", flat=True
        )
    )
    for version in ModelVersion.objects.filter(ml_model=ml_model).exclude(pk__in=documented):
        _documentation_ensure(spec, version=version, people=people)


def _rollout_approve(
    spec: DemoModelSpec, ml_model: MLModel, *, version: str, people: dict[str, User]
) -> None:
    """The version rolled out twelve days ago: its first case registered it as a candidate;
    the owner proposes activating it and a manager approves (four eyes), through the version
    service. Nothing to do once it is approved (or was retired in the demo)."""
    row = ModelVersion.objects.filter(ml_model=ml_model, version=version).first()
    if row is None or row.status != VersionStatus.CANDIDATE:
        return
    _documentation_ensure(spec, version=row, people=people)
    if row.activation_proposed_at is None:
        row = version_activation_propose(
            version=row,
            proposer=people["owner"],
            note="Retrained on more data; shadow comparison on last week's cases looks good.",
        )
    version_activation_decide(
        version=row, manager=people["manager"], approve=True, note="Approved for rollout."
    )


def _submit(
    ml_model: MLModel, *, account: User, bodies: list[dict], result: ModelSeedResult
) -> None:
    for start in range(0, len(bodies), SUBMIT_BATCH):
        outcomes = cases_submit(
            ml_model=ml_model, items=bodies[start : start + SUBMIT_BATCH], submitted_by=account
        )
        result.cases_created += sum(o.status == "created" for o in outcomes)


def _cases_seed(
    spec: DemoModelSpec,
    *,
    ml_model: MLModel,
    account: User,
    people: dict[str, User],
    result: ModelSeedResult,
    seed: int,
) -> None:
    now = timezone.now()
    items = _build_items(spec, now=now, seed=seed)
    bodies = [body for body, _, _ in items]
    # In time order: the first case of the rolled-out version registers it as a candidate
    # (that case goes to people); once approved, its later cases route like any other.
    rollout = spec.versions[-1][0]
    first = next((i for i, b in enumerate(bodies) if b["model_version"] == rollout), len(bodies))
    _submit(ml_model, account=account, bodies=bodies[: first + 1], result=result)
    _rollout_approve(spec, ml_model, version=rollout, people=people)
    _submit(ml_model, account=account, bodies=bodies[first + 1 :], result=result)
    # Versions dated like their cases (demo data only): first seen, and activated then.
    for name, since in (
        (spec.versions[0][0], items[0][2]),
        (rollout, items[min(first, len(items) - 1)][2]),
    ):
        ModelVersion.objects.filter(ml_model=ml_model, version=name).update(
            created_at=since, status_changed_at=since, activated_at=since
        )
    # Spread the demo traffic over the last month (demo data only; real cases keep the time
    # they arrived). SLA and availability deadlines follow the submission time.
    created_at = {body["external_id"]: when for body, _, when in items}
    cases = list(Case.objects.filter(ml_model=ml_model).select_related("policy"))
    for case in cases:
        case.created_at = created_at[case.external_id]
        if case.sla_due_at is not None:
            case.sla_due_at = case.created_at + timedelta(minutes=case.policy.sla_minutes)
            case.expires_at = case.created_at + timedelta(minutes=case.policy.availability_minutes)
    Case.objects.bulk_update(cases, ["created_at", "sla_due_at", "expires_at"], batch_size=500)


def _history_seed(
    spec: DemoModelSpec,
    *,
    ml_model: MLModel,
    people: dict[str, User],
    result: ModelSeedResult,
    seed: int,
) -> None:
    """Claims and decisions by the demo reviewers on the queued cases older than a day, taken
    through the queue services, then dated back to when they would have happened."""
    if Decision.objects.filter(ml_model=ml_model).exists():
        return
    now = timezone.now()
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    truth = {
        body["external_id"]: label for body, label, _ in _build_items(spec, now=now, seed=seed)
    }
    reviewers = [
        people[name]
        for name in ("reviewer", "reviewer2", "lead")
        if people[name].memberships.filter(team__slug=spec.team).exists()
    ]
    codes = ml_model.policies.get(status=PolicyStatus.ACTIVE).reason_codes
    old = Case.objects.filter(
        ml_model=ml_model, status=CaseStatus.QUEUED, created_at__lt=now - timedelta(days=1)
    ).count()
    decided_times: list[tuple[int, int, datetime, datetime, int]] = []
    for n in range(old):
        reviewer = reviewers[n % len(reviewers)] if rng.random() < 0.8 else reviewers[0]
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        if case is None:
            break
        if n % 60 == 59:  # now and then a reviewer asks a lead
            case_escalate(
                case=case, actor=reviewer, note="Unusual values; please take a second look."
            )
            continue
        actual = truth.get(case.external_id, case.predicted_label)
        wrong = actual != case.predicted_label
        fast = reviewer.username == FAST_REVIEWER
        doubtful = reviewer.username == OVERRIDING_REVIEWER
        if wrong and rng.random() < (0.4 if fast else 0.85):
            action, final_label = "override", actual
            reason = "wrong_label" if rng.random() < 0.7 else rng.choice(codes)
            feedback = rng.choice(FEEDBACK_OVERRIDE)
        elif not wrong and rng.random() < (0.15 if doubtful else 0.03):
            action = "override"
            final_label = rng.choice([x for x in ml_model.labels if x != case.predicted_label])
            reason = rng.choice(["missing_context", "policy", "data_error"])
            feedback = "Context outside the model's inputs."
        else:
            action, final_label, reason = "accept", "", ""
            feedback = rng.choice(FEEDBACK_ACCEPT)
        helpful_draw = rng.random()
        helpful_yes = 0.45 if action == "override" else 0.8
        helpful = None if helpful_draw > 0.9 else helpful_draw < helpful_yes
        decision = case_decide(
            case=case,
            reviewer=reviewer,
            action=action,
            final_label=final_label,
            reason_code=reason,
            feedback=feedback,
            explanation_helpful=helpful,
        )
        wait = timedelta(minutes=min(rng.lognormvariate(3.4, 0.9), 600))
        spent_ms = int(min(rng.lognormvariate(9.3 if fast else 10.6, 0.6), 900_000))
        claimed = min(case.created_at + wait, now - timedelta(minutes=5))
        decided = claimed + timedelta(milliseconds=spent_ms)
        decided_times.append((case.pk, decision.pk, claimed, decided, spent_ms))
        result.decisions_created += 1
    _date_back(decided_times)


def _date_back(rows: list[tuple[int, int, datetime, datetime, int]]) -> None:
    cases = {c.pk: c for c in Case.objects.filter(pk__in=[r[0] for r in rows])}
    decisions = {d.pk: d for d in Decision.objects.filter(pk__in=[r[1] for r in rows])}
    for case_id, decision_id, claimed, decided, spent_ms in rows:
        case, decision = cases[case_id], decisions[decision_id]
        case.claimed_at, case.decided_at = claimed, decided
        decision.decided_at, decision.time_spent_ms = decided, spent_ms
    with transaction.atomic():
        Case.objects.bulk_update(cases.values(), ["claimed_at", "decided_at"], batch_size=500)
        Decision.objects.bulk_update(
            decisions.values(), ["decided_at", "time_spent_ms"], batch_size=500
        )


def _waiting_qs(ml_model: MLModel):
    return Case.objects.filter(
        ml_model=ml_model, status__in=(CaseStatus.QUEUED, CaseStatus.ESCALATED)
    )


def _sla_escalations_requeue(ml_model: MLModel, *, now: datetime) -> int:
    """Cases the SLA timer escalated while the demo stood unused go back to the queue (one
    audited ``case.requeued`` event each): a fresh start shows a queue, not a backlog."""
    cases = list(
        Case.objects.filter(
            ml_model=ml_model,
            status=CaseStatus.ESCALATED,
            escalation_source=EscalationSource.SLA,
        )
    )
    if not cases:
        return 0
    events = [
        audit_event_build(
            actor=None,
            action="case.requeued",
            target=case,
            changes={
                "status": [CaseStatus.ESCALATED, CaseStatus.QUEUED],
                "escalation_source": [EscalationSource.SLA, ""],
                "note": "demo restart: the queue is refreshed",
            },
        )
        for case in cases
    ]
    with transaction.atomic():
        Case.objects.filter(pk__in=[c.pk for c in cases]).update(
            status=CaseStatus.QUEUED, escalated_at=None, escalation_source="", escalation_note=""
        )
        audit_record_many(events)
    return len(cases)


def _waiting_top_up(
    spec: DemoModelSpec, *, ml_model: MLModel, account: User, now: datetime, seed: int
) -> int:
    """Submit new cases (through intake, audited) when fewer than the demo's share wait, e.g.
    after the waiting ones expired or were decided in an earlier session."""
    target = max(5, round(spec.n_cases * WAITING_SHARE))
    missing = target - _waiting_qs(ml_model).filter(status=CaseStatus.QUEUED).count()
    if missing <= 0:
        return 0
    run = Case.objects.filter(ml_model=ml_model).count()
    items = _build_items(replace(spec, n_cases=missing * 4), now=now, seed=seed + run)
    bodies = []
    for i, (body, _truth, _when) in enumerate(items):
        bodies.append({**body, "external_id": f"{spec.prefix}-r{run}-{i + 1:05d}"})
    created = 0
    for start in range(0, len(bodies), SUBMIT_BATCH):
        outcomes = cases_submit(
            ml_model=ml_model, items=bodies[start : start + SUBMIT_BATCH], submitted_by=account
        )
        created += sum(o.status == "created" for o in outcomes)
        if _waiting_qs(ml_model).filter(status=CaseStatus.QUEUED).count() >= target:
            break
    return created


def _waiting_refresh(ml_model: MLModel, *, now: datetime, force: bool = False) -> int:
    """Give the waiting cases fresh times when any is near or past its SLA or lifetime: their
    order kept, received over the last WAITING_SPAN_MIN minutes, SLA and lifetime counted
    from then (demo data only, like the dating-back of the history). Returns how many moved."""
    waiting = list(_waiting_qs(ml_model).select_related("policy").order_by("created_at", "id"))
    stale = force or any(
        (c.sla_due_at is not None and c.sla_due_at <= now + STALE_SLA_MARGIN)
        or (c.expires_at is not None and c.expires_at <= now + timedelta(days=1))
        or c.created_at < now - timedelta(minutes=WAITING_SPAN_MIN + 1)
        for c in waiting
    )
    if not waiting or not stale:
        return 0
    step = (WAITING_SPAN_MIN - 2) / max(1, len(waiting) - 1)
    for i, case in enumerate(waiting):
        case.created_at = now - timedelta(minutes=WAITING_SPAN_MIN - i * step)
        case.sla_due_at = case.created_at + timedelta(minutes=case.policy.sla_minutes)
        case.expires_at = case.created_at + timedelta(minutes=case.policy.availability_minutes)
        if case.escalated_at is not None:
            case.escalated_at = max(case.created_at, now - timedelta(minutes=20))
    Case.objects.bulk_update(
        waiting, ["created_at", "sla_due_at", "expires_at", "escalated_at"], batch_size=500
    )
    return len(waiting)


def _blind_ensure(ml_model: MLModel) -> None:
    """A few waiting cases are blind (the routing's sample picks them; on a small demo it may
    pick too few, so the first waiting cases are marked before anyone has seen them)."""
    queued = _waiting_qs(ml_model).filter(status=CaseStatus.QUEUED)
    missing = MIN_BLIND_WAITING - queued.filter(is_blind=True).count()
    if missing > 0:
        ids = list(queued.filter(is_blind=False).order_by("id").values_list("pk", flat=True))
        Case.objects.filter(pk__in=ids[-missing:]).update(is_blind=True)


def _demo_escalation(ml_model: MLModel) -> Case | None:
    return (
        _waiting_qs(ml_model)
        .filter(
            status=CaseStatus.ESCALATED,
            escalation_source=EscalationSource.REVIEWER,
            escalation_note=ESCALATION_NOTE,
        )
        .order_by("id")
        .first()
    )


def _escalation_ensure(spec: DemoModelSpec, *, ml_model: MLModel, people: dict[str, User]) -> None:
    """One case the reviewer escalated with a note waits for the leads (through the
    services), with a conversation on it: the note is its first comment, the lead answers
    mentioning @reviewer, and the reviewer replies."""
    case = _demo_escalation(ml_model)
    if case is None:
        reviewer = people["reviewer"]
        claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        if claimed is None:
            return
        case_escalate(case=claimed, actor=reviewer, note=ESCALATION_NOTE)
        case = _demo_escalation(ml_model)
    if case is None:
        return
    written = Comment.objects.filter(case=case).count()  # the first is the escalation note
    features = [c["feature"].replace("_", " ") for c in case.explanation["contributions"][:2]]
    thread = (
        (
            "lead",
            f"@reviewer thanks for flagging. Which values look borderline to you? The model "
            f"leans on {features[0]} here.",
        ),
        (
            "reviewer",
            f"@lead {features[0]} and {features[-1]} both sit near the cut-off we discussed; "
            "I would not want to accept this one on my own.",
        ),
    )
    for author, text in thread[max(0, written - 1) :]:
        comment_add(case=case, author=people[author], text=text)


def _candidate_seed(
    spec: DemoModelSpec,
    *,
    ml_model: MLModel,
    people: dict[str, User],
    account: User,
    seed: int,
) -> int:
    """A later version waiting for approval: the service account sends a few cases from it
    (a candidate's cases all go to people, reason ``candidate_version``) and the owner
    proposes activating it, so a manager finds it waiting. Topped up when its waiting cases
    were decided or expired; left alone once someone approved, rejected or retired it in the
    demo. Returns how many cases it submitted."""
    name = spec.candidate[0]
    version = ModelVersion.objects.filter(ml_model=ml_model, version=name).first()
    if version is not None and version.status != VersionStatus.CANDIDATE:
        return 0
    waiting = _waiting_qs(ml_model).filter(model_version__version=name).count()
    created = 0
    if waiting < CANDIDATE_WAITING:
        run = Case.objects.filter(ml_model=ml_model).count()
        items = _build_items(
            replace(spec, n_cases=CANDIDATE_WAITING - waiting),
            now=timezone.now(),
            seed=seed + run,
            candidate=True,
        )
        bodies = [
            {**body, "external_id": f"{spec.prefix}-v{name}-r{run}-{i + 1:03d}"}
            for i, (body, _truth, _when) in enumerate(items)
        ]
        outcomes = cases_submit(ml_model=ml_model, items=bodies, submitted_by=account)
        created = sum(o.status == "created" for o in outcomes)
        version = ModelVersion.objects.get(ml_model=ml_model, version=name)
    if version.status == VersionStatus.CANDIDATE and version.activation_proposed_at is None:
        _documentation_ensure(spec, version=version, people=people)
        version_activation_propose(
            version=version,
            proposer=people["owner"],
            note="Retrained with this quarter's data; please compare with the active "
            "version on the model page before approving.",
        )
    return created


def _outcomes_seed(spec: DemoModelSpec, *, ml_model: MLModel, account: User, seed: int) -> int:
    """Ground truth, reported later by the model's service account (through the outcomes
    service, as ``POST /api/v1/outcomes`` does), for about OUTCOME_SHARE of the decided and
    auto-approved cases of the demo month: the dashboard's "Did review help?" compares the
    model's and the reviewers' accuracy on them. Once per model."""
    if Outcome.objects.filter(ml_model=ml_model).exists():
        return 0
    now = timezone.now()
    truth = {
        body["external_id"]: label for body, label, _ in _build_items(spec, now=now, seed=seed)
    }
    rng = random.Random(seed + 1)  # noqa: S311 - demo data, not security
    cases = (
        Case.objects.filter(
            ml_model=ml_model,
            status__in=(CaseStatus.DECIDED, CaseStatus.AUTO_APPROVED),
            external_id__in=list(truth),
        )
        .order_by("id")
        .values_list("external_id", "created_at")
    )
    items = []
    for external_id, created_at in cases:
        if rng.random() >= OUTCOME_SHARE:
            continue
        observed = min(created_at + timedelta(days=rng.uniform(1, 6)), now - timedelta(minutes=10))
        items.append(
            {
                "external_id": external_id,
                "label": truth[external_id],
                "observed_at": observed.isoformat(),
            }
        )
    created = 0
    for start in range(0, len(items), OUTCOME_BATCH):
        results = outcomes_record(
            ml_model=ml_model, items=items[start : start + OUTCOME_BATCH], actor=account
        )
        created += sum(r.status == "created" for r in results)
    return created


def _queue_freshen(
    spec: DemoModelSpec,
    *,
    ml_model: MLModel,
    people: dict[str, User],
    result: ModelSeedResult,
    seed: int,
) -> None:
    """Leave a fresh queue, however long ago the demo was last seeded or run: lapsed claims
    and SLA escalations go back to the queue, expired or decided waiting cases are replaced
    by new submissions, every waiting case gets fresh times inside its SLA and lifetime, a few
    are blind and one escalation with its note waits for the leads. Run twice in a row, the
    second run finds nothing stale and changes nothing."""
    now = timezone.now()
    requeued = _sla_escalations_requeue(ml_model, now=now)
    account = User.objects.filter(service_model=ml_model).order_by("pk").first()
    result.waiting_added = _waiting_top_up(
        spec, ml_model=ml_model, account=account, now=now, seed=seed
    )
    result.waiting_added += _candidate_seed(
        spec, ml_model=ml_model, people=people, account=account, seed=seed
    )
    result.waiting_refreshed = _waiting_refresh(
        ml_model, now=now, force=bool(requeued or result.waiting_added)
    )
    _blind_ensure(ml_model)
    _escalation_ensure(spec, ml_model=ml_model, people=people)


def _health_seed(ml_model: MLModel, *, people: dict[str, User]) -> None:
    """A drift baseline over the demo month's first weeks and a feature-drift tripwire, so the
    model-health page has drift to chart and an alert to show (once)."""
    if DriftBaseline.objects.filter(ml_model=ml_model).exists():
        return
    now = timezone.now()
    baseline_create(
        ml_model=ml_model,
        actor=people["owner"],
        window_start=now - timedelta(days=HISTORY_DAYS + 1),
        window_end=now - timedelta(days=8),
    )
    tripwire_create(
        ml_model=ml_model, actor=people["owner"], kind=TripwireKind.FEATURE_PSI, threshold=0.1
    )


def _rollups_seed(ml_model: MLModel) -> None:
    """Fill the dashboards' daily rollups for the demo month now, rather than waiting for the
    periodic task."""
    today = timezone.localdate()
    rollups_refresh(
        days=[today - timedelta(days=n) for n in range(HISTORY_DAYS + 1)], ml_model=ml_model
    )


def demo_seed(
    *, password: str = DEFAULT_DEMO_PASSWORD, seed: int = 20240611, scale: float = 1.0
) -> DemoSummary:
    """Seed (or complete) the demo data; a second run changes nothing. ``scale`` shrinks or
    grows the number of cases per model (for quick runs)."""
    summary = DemoSummary()
    state = random.getstate()
    random.seed(seed)  # routing's QA and blind samples: the same demo every time
    try:
        people = demo_people_seed(password=password, summary=summary)
        for offset, full_spec in enumerate(DEMO_MODELS):
            spec = replace(full_spec, n_cases=max(20, round(full_spec.n_cases * scale)))
            result = ModelSeedResult(slug=spec.slug)
            ml_model = _model_seed(spec, people=people, result=result, seed=seed + 100 * offset)
            _history_seed(
                spec, ml_model=ml_model, people=people, result=result, seed=seed + 100 * offset
            )
            leases_expire()  # claims left from an earlier session go back first
            _queue_freshen(
                spec, ml_model=ml_model, people=people, result=result, seed=seed + 100 * offset
            )
            _health_seed(ml_model, people=people)
            account = User.objects.get(username=result.service_account)
            result.outcomes_created = _outcomes_seed(
                spec, ml_model=ml_model, account=account, seed=seed + 100 * offset
            )
            if (
                result.cases_created
                or result.decisions_created
                or result.waiting_refreshed
                or result.waiting_added
            ):
                _rollups_seed(ml_model)
            summary.models.append(result)
        tripwires_check()
    finally:
        random.setstate(state)
    return summary
