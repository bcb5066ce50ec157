"""Schemathesis hooks for the fuzz run: every request carries a live access token.

Loaded by the CLI from SCHEMATHESIS_HOOKS. The token comes from a real login through the
gateway (FUZZ_GATEWAY, FUZZ_USERNAME, FUZZ_PASSWORD), is reused for a minute, and is fetched
again whenever a call answers 401: the fuzzer itself may log the session out or change
nothing else, and must not go on testing with a revoked token.
"""

from __future__ import annotations

import os
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
