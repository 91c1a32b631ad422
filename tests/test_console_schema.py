"""Schemathesis against the console's OpenAPI schema, bounded (20 examples per operation, in-process): no answer is
a 5xx, every answer matches the schema (status codes, content types, bodies). Also: the schema the interface is
built against is the committed one (src/llmtuner/console/openapi.json), so a change to the API is deliberate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from console_support import database_url, running_console, settings_for

import llmtuner.console

pytest.importorskip("schemathesis")
import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

SNAPSHOT = Path(llmtuner.console.__file__).parent / "openapi.json"
EXCLUDED = {"logout"}  # it would end the test's own sign-in; tested in test_console_api
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_console(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    with database_url("sqlite", folder) as url, running_console(settings_for(folder, url, stop_grace_s=2.0)) as console:
        from console_support import alpaca_bytes, sft_config, upload

        assert upload(console, "seed", alpaca_bytes(), "seed.json").status_code == 201  # objects to find by id
        job = console.post("/api/jobs", json={"kind": "train", "name": "seed", "config": sft_config("seed")}).json()
        console.post(f"/api/jobs/{job['id']}/stop")
        console.wait_for(job["id"], ("STOPPED",), timeout=60)
        yield console


@pytest.mark.slow
def test_no_server_errors_and_answers_match_the_schema(fuzzed_console):
    """Every operation, positive and negative (schema-breaking) cases, 20 each: through hypothesis directly, since
    schemathesis' pytest plugin does not run under pytest 9."""
    from hypothesis import given

    api = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_console.app)
    headers = fuzzed_console.headers("admin")
    failures: dict[str, str] = {}
    ran = 0
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in EXCLUDED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=20, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # nothing to break (GET /api/health has no parameters)
                pass
            except BaseException as error:  # collected: one report naming every failed operation
                if isinstance(error, (KeyboardInterrupt, SystemExit)):
                    raise
                failures[f"{operation.label} ({mode.value})"] = f"{type(error).__name__}: {str(error)[:1500]}"
            ran += 1
    assert failures == {}, "\n\n".join(f"{label}: {failure}" for label, failure in failures.items())
    assert ran >= 40


def test_the_schema_is_the_committed_one(tmp_path):
    from llmtuner.console.app import create_app
    from llmtuner.console.settings import ConsoleSettings

    app = create_app(ConsoleSettings(data_dir=tmp_path, start_scheduler=False, gpu_ids=(),
                                     database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    current = json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    app.state.console.db.dispose()
    assert SNAPSHOT.read_text(encoding="utf-8") == current, (
        "The REST API changed: if that is meant, write the new schema with `python -m llmtuner.console.cli openapi > "
        "src/llmtuner/console/openapi.json` and tell the interface's authors.")
