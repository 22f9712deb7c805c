"""The OpenAPI document describes exactly the routes the worker serves (schemathesis checks the
answers against it on a live worker: tests/test_dashboard_integration.py)."""

from __future__ import annotations

import dataclasses

from stream.app import create_app
from stream.settings import Settings
from stream.web.openapi import openapi


def test_every_route_the_worker_serves_is_in_the_openapi_document_and_nothing_else(tmp_path):
    settings = dataclasses.replace(Settings.from_env({}), state_dir=str(tmp_path))
    served = set(create_app(settings).web.views)
    assert served == set(openapi()["paths"])


def test_every_operation_documents_its_answers():
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)
            if "security" in operation:  # mutating: refused without the token, impossible without one configured
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
