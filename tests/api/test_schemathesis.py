"""Property-based checks of every documented endpoint against its own OpenAPI schema.

Bounded in examples so the suite stays fast. Any 5xx, an answer that does not match the schema,
or schema-violating input that is accepted fails. Schema-valid input may still be refused with
a 422: limits come from settings and cross-field rules (exactly one input kind, input_size
against the data) that a JSON schema cannot state, so that one check is left out.
"""

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import app

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
