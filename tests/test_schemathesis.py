"""Schemathesis over every operation of the OpenAPI schema, signed in, on SQLite and PostgreSQL.

For each operation: valid cases (positive) and invalid ones (negative), from derandomized
Hypothesis (a fixed seed) with a bounded number of cases, so the run is the same every time
and fits CI. Every default check runs on every answer: no 5xx; status code, content type,
headers and body as the schema says; invalid input refused with a 4xx; ``Allow`` on 405s.
Failures are collected over the whole run and reported together, with a summary line
(operations, cases, server errors, conformance failures) for the CI log.
"""

from __future__ import annotations

import collections

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import create_user, png_bytes, upload_image

CASES_PER_OPERATION_AND_MODE = 12

# Valid-looking input the server refuses for what no schema can say: bytes that are not an
# image (415) or too many pixels (413); a mask that does not fit the image (422); a
# direct upload larger than this deployment's limit (413).
CONTENT_REFUSALS = {
    "POST /v1/images": {413, 415, 422},
    "POST /v1/images/uploads": {413},
    "POST /v1/images/{image_id}/complete": {413, 415, 422},
    "POST /v1/inpaintings": {422},
    "POST /v1/detections": {422},
    "POST /v1/selections": {422},  # a box inside this image, x2 > x1: not expressible in the schema
}


def test_every_operation_conforms(app, client, db, capsys) -> None:
    from app.core.config import get_settings
    from app.seed.service import run_seed
    from tests.factories import auth_headers

    run_seed(db, get_settings())
    admin = create_user(db, is_admin=True)
    headers = auth_headers(client, admin)
    upload_image(client, headers, png_bytes())  # something for the list and lookup operations
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    cases: collections.Counter[str] = collections.Counter()
    server_errors: list[str] = []
    failures: list[str] = []
    no_negative: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]

    def check(case) -> None:
        label = f"{case.operation.label} [{case.meta.generation.mode if case.meta else '?'}]"
        cases[case.operation.label] += 1
        response = case.call(headers=headers)
        if response.status_code >= 500:
            server_errors.append(f"{label} -> {response.status_code}: {response.text[:200]}")
        excluded = []
        if response.status_code in CONTENT_REFUSALS.get(case.operation.label, set()):
            excluded = [positive_data_acceptance]
        try:
            case.validate_response(response, headers=headers, excluded_checks=excluded)
        except (Exception, BaseExceptionGroup) as exc:  # checks failed: collect, keep going
            failures.append(f"{label}: {str(exc)[:1500]}")

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = given(case=operation.as_strategy(mode))(lambda case: check(case))
            try:
                settings(
                    max_examples=CASES_PER_OPERATION_AND_MODE,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )(run)()
            except Unsatisfiable:
                # Nothing to make invalid: an operation without parameters or body.
                assert mode == GenerationMode.NEGATIVE, operation.label
                no_negative.append(operation.label)

    with capsys.disabled():  # the summary belongs in the CI log
        print(
            f"\nschemathesis: {len(operations)} operations, {sum(cases.values())} cases, "
            f"{len(server_errors)} server errors, {len(failures)} conformance failures; "
            f"no invalid input possible for: {', '.join(no_negative) or 'none'}"
        )
    assert len(cases) == len(operations)
    assert not server_errors, "\n".join(server_errors)
    assert not failures, "\n\n".join(failures)
