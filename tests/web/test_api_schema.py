"""Schemathesis runs every operation of the OpenAPI schema against a real uvicorn process
(the `stack` fixture) with a real token: responses must match the schema and never be 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import run_participant

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def token(study, alice):
    from uxlab.studies.api_tokens import create_api_token

    for values in (["A"], ["B"], ["tie"]):
        run_participant(study, values)
    return create_api_token(alice, "schemathesis")[1]


def test_it_conforms_to_its_openapi_schema(stack, token, study):
    schema = schemathesis.openapi.from_url(f"{stack.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    headers = {"Authorization": f"Bearer {token}"}
    calls = {"real study": 0}
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            if case.path_parameters and len(case.path_parameters.get("code", "")) % 2:
                case.path_parameters["code"] = study.code  # half the cases reach the real study, not a 404
                calls["real study"] += 1
            case.call_and_validate(base_url=stack.url, headers=headers, timeout=60)

        try:
            check()
        except Exception as error:  # run every operation, then report all failures together
            failures.append(f"{operation.label}: {error}")
    assert failures == []
    assert calls["real study"] > 10
