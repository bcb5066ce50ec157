"""Schemathesis hooks for the fuzz run: every request carries a live access token.

Loaded by the CLI from SCHEMATHESIS_HOOKS. The token comes from a real login through the
gateway (FUZZ_GATEWAY, FUZZ_USERNAME, FUZZ_PASSWORD), is reused for a minute, and is fetched
again whenever a call answers 401: the fuzzer itself may log the session out or change
nothing else, and must not go on testing with a revoked token.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import requests
import schemathesis


@schemathesis.auth(refresh_interval=60)
class LiveAccessToken:
    def get(self, case: Any, ctx: Any) -> str:
        response = requests.post(
            f"{os.environ['FUZZ_GATEWAY']}/auth/login",
            json={"username": os.environ["FUZZ_USERNAME"], "password": os.environ["FUZZ_PASSWORD"]},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


VALID_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Give each well-formed Idempotency-Key its own value.

    The fuzzer reuses one generated key across many different bodies, and the contract
    answers a key reused with another body with 422: every such call would be reported as
    a valid request refused. Malformed keys are left as generated, so their 422 is still
    tested; reuse itself is tested in test_concurrency and the content service's tests.
    """
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and VALID_IDEMPOTENCY_KEY.fullmatch(
            str(headers[name])
        ):
            headers[name] = uuid.uuid4().hex
