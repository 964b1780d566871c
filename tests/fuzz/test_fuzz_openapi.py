"""Schemathesis over the SensorThings OpenAPI, against a real `serve` on both backends.

Every documented operation gets generated requests (valid and not); each answer must not
be a server error and must match the schema its status is documented with. A case found
here becomes a regression test in tests/hub/test_hostile_*.py.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from cityhelix.app import create_app
from cityhelix.settings import Settings
from tests.fuzz.conftest import AUTH, Budget

_APP = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", mqtt_port=0), migrate=False)
SCHEMA = schemathesis.openapi.from_dict(_APP.openapi()).include(path_regex=r"^/v1\.1/")
_SESSION = requests.Session()


@SCHEMA.parametrize()
@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_sensorthings_operation(
    case: schemathesis.Case, served_hub: str, fuzz_budget: Budget
) -> None:
    if fuzz_budget.left(served_hub) <= 0:
        pytest.skip("the fuzz stage's time budget is spent")
    response = case.call(base_url=served_hub, session=_SESSION, headers=AUTH, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
