"""Property-based API fuzzing with schemathesis: every operation of /api/schema/, with a service
account token and with a reviewer's personal token, valid and invalid inputs, against a real
test database holding a model, waiting and decided cases. No answer may be a server error, and
every answer must be documented: its status code, its media type and (for JSON) its body, with
undocumented fields refused (tests/api/openapi.py closes the response components).

Bounded and reproducible: few examples per operation and generation mode, derandomized, no
deadline, no shrinking, no example database. Select it alone with ``-m fuzz``."""

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reviewapp.models import Case, CaseStatus
from reviewapp.services.accounts import token_create
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from tests.api.openapi import closed_openapi, fetch_openapi
from tests.factories import make_cases

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
VERBOSE = bool(os.environ.get("FUZZ_VERBOSE"))  # print the status codes seen per operation
MAX_EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}


@contextmanager
def in_process_app() -> Iterator[WSGIHandler]:
    """Django's WSGI handler, called in this thread so that it shares the test transaction.
    As Django's test client does, keep the connection open between requests (Django closes
    it when a request finishes); the test client restores the receivers after each of its
    own requests, so make no test-client request inside this block."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(ml_model, reviewer, service_account, manager):
    """Waiting, blind and decided cases of the model, and the callers' tokens: the model's
    service account and a reviewer (what the workflow is for), and a manager (who alone
    reaches the metrics and the export)."""
    make_cases(ml_model, 12)
    blind = make_cases(ml_model, 2)
    Case.objects.filter(pk__in=blind).update(is_blind=True)
    for _ in range(3):
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        case_decide(case=case, reviewer=reviewer, action="accept")
    return {
        "tokens": {
            "service account": service_account[1],
            "reviewer": token_create(user=reviewer)[1],
            "manager": token_create(user=manager)[1],
        },
        "reviewer": reviewer,
        "ml_model": ml_model,
        "case_ids": list(Case.objects.filter(ml_model=ml_model).values_list("pk", flat=True)),
        "external_ids": list(
            Case.objects.filter(ml_model=ml_model).values_list("external_id", flat=True)[:5]
        ),
        "slug": ml_model.slug,
    }


def _held_case_id(world: dict) -> int:
    """The case the reviewer holds, claiming the next one when they hold none."""
    reviewer = world["reviewer"]
    held = Case.objects.filter(assigned_to=reviewer, status=CaseStatus.ASSIGNED).first()
    if held is None:
        held = case_claim_next(ml_model=world["ml_model"], reviewer=reviewer)
    return held.pk if held is not None else world["case_ids"][0]


def _aim(case, pick: int, world: dict) -> None:
    """Point some generated requests at objects that exist, so that the fuzzing reaches past
    the look-ups and the label check (pick 0 keeps whatever was generated): real case ids
    (pick 3: the case the reviewer holds), the model's slug, known external ids, and a valid
    prediction inside otherwise generated cases."""
    if not pick:
        return
    path = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if "case_id" in path:
        ids = world["case_ids"]
        path["case_id"] = _held_case_id(world) if pick == 3 else ids[pick % len(ids)]
    if "model" in path:
        path["model"] = world["slug"]
    if isinstance(case.query, dict):
        if "model" in case.query:
            case.query["model"] = world["slug"]
        if "external_id" in case.query:
            case.query["external_id"] = world["external_ids"][pick % len(world["external_ids"])]
    if isinstance(case.body, dict) and pick == 3 and "action" in case.body:
        case.body["action"] = "accept"  # an override needs a label and reason code of the model
        case.body.pop("final_label", None)
    if isinstance(case.body, dict):
        items = case.body.get("cases") if "cases" in case.body else [case.body]
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "prediction" in item:
                item["prediction"] = {"label": "fraud", "confidence": 0.5}


def _fuzz(
    operation, *, mode, max_examples: int, caller: str, world: dict, statuses: Counter
) -> list[str]:
    """Run one operation in one generation mode as one caller; count the answers' status codes
    by operation in STATUSES and return the failures."""
    headers = {"Authorization": f"Bearer {world['tokens'][caller]}"}
    failures: list[str] = []

    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(mode), pick=st.integers(0, 3))
    def run(case, pick: int) -> None:
        _aim(case, pick, world)
        response = case.call(headers=headers)
        statuses[(operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            found = "\n".join(f"    {f.title}: {f.message[:400]}" for f in group.exceptions)
            failures.append(
                f"{operation.label} [{caller}, {mode.value}] answered {response.status_code}: "
                f"{case.as_curl_command()}\n{found}"
            )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing in the operation can be made invalid (e.g. only a free-text path segment).
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


def test_no_server_errors_and_no_schema_violations(world, capsys):
    """schemathesis finds no 5xx and no undocumented answer on any operation."""
    started = time.monotonic()
    schema = schemathesis.openapi.from_dict(closed_openapi(fetch_openapi()))
    schema.config.generation.update(with_security_parameters=False)
    statuses: Counter = Counter()
    failures: list[str] = []
    with in_process_app() as app:
        schema.app = app
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            for mode, max_examples in MAX_EXAMPLES.items():
                for caller in world["tokens"]:
                    failures += _fuzz(
                        operation,
                        mode=mode,
                        max_examples=max_examples,
                        caller=caller,
                        world=world,
                        statuses=statuses,
                    )
    elapsed = time.monotonic() - started
    examples = sum(statuses.values())
    successes = sum(n for (_, code), n in statuses.items() if code < 300)
    summary = (
        f"schemathesis: {len(operations)} operations, {examples} examples "
        f"({successes} answered 2xx), {len(failures)} failures in {elapsed:.0f}s "
        f"(callers: {', '.join(world['tokens'])}; modes: positive, negative)"
    )
    with capsys.disabled():
        print(f"\n{summary}")
        if VERBOSE:
            for (label, code), n in sorted(statuses.items()):
                print(f"  {label}: {code} x{n}")
    assert not failures, summary + "\n" + "\n".join(failures[:20])
