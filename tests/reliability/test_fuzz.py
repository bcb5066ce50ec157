"""API fuzzing with Schemathesis against each service's OpenAPI document and the gateway's.

Every default check is on (server errors, status code, content type, headers and response
schema conformance, schema-valid requests accepted and invalid ones rejected, ignored
auth, use after free, ...). Each operation gets a bounded number of examples and a fixed
seed, so a run is repeatable and fits the CI budget. Requests carry a live access token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import _e2e, start_stack

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).parent / "st"
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("FUZZ_SEED", "20261125")


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A stack of its own: the fuzzer fails logins by the hundred from this one address,
    which would lock the other tests (and its own token refresh) out of logging in."""
    running = start_stack(
        tmp_path_factory.mktemp("fuzz"),
        {"LOGIN_MAX_FAILURES_PER_ACCOUNT": "100000", "LOGIN_MAX_FAILURES_PER_ADDRESS": "100000"},
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fuzz_account(fuzz_stack: Any) -> dict[str, str]:
    gateway = fuzz_stack.gateway
    username = "fuzz" + uuid.uuid4().hex[:10]
    password = "fuzzing password " + uuid.uuid4().hex[:6]
    created = requests.post(
        f"{gateway}/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    # Verified, so content takes its writes and the stateful phase reaches past each create.
    _e2e.verify_email(gateway, f"{username}@example.com")
    return {"FUZZ_USERNAME": username, "FUZZ_PASSWORD": password}


@pytest.mark.parametrize("target", ["auth", "content", "gateway"])
def test_fuzz_openapi_document(
    fuzz_stack: Any, fuzz_account: dict[str, str], target: str, tmp_path: Path
) -> None:
    stack = fuzz_stack
    base = stack.gateway if target == "gateway" else stack.url(target)
    env = {
        **os.environ,
        **fuzz_account,
        "FUZZ_GATEWAY": stack.gateway,
        "SCHEMATHESIS_HOOKS": str(HERE / "fuzz_hooks.py"),
    }
    result = subprocess.run(
        [
            str(ST),
            "--no-color",
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            # Valid and invalid data alike (negative: every refusal must be a 4xx), and the
            # stateful phase, which follows each create's links to read, change and delete.
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            SEED,
            "--request-timeout",
            "15",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        env=env,
        cwd=tmp_path,  # Schemathesis keeps a cache in its working directory
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    assert "Tested:" in output, output[-2_000:]
