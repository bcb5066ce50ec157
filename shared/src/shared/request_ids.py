"""Request ids without Flask: a client's well-formed X-Request-ID kept, otherwise one minted.

Apart from the Flask hooks (shared.request_id), so the gateway's HTTP protocol can name the
requests it refuses in a gunicorn master that never loads Flask.
"""

from __future__ import annotations

import os
import re
import secrets

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def accept_or_mint(candidate: str | None) -> str:
    if candidate and _VALID.fullmatch(candidate):
        return candidate
    return _mint()


class _RandomIds:
    """128 random bits a request id (a uuid4 has 122), as hex.

    The bits come from the operating system's generator 256 ids at a time: one getrandom()
    system call a request was a measurable part of the gateway's own work. Each process
    draws its own: a forked child never hands out its parent's ids.
    """

    BATCH = 256

    def __init__(self) -> None:
        self._ids: list[str] = []
        os.register_at_fork(after_in_child=self._ids.clear)

    def mint(self) -> str:
        ids = self._ids
        if not ids:
            pool = secrets.token_bytes(16 * self.BATCH).hex()
            ids.extend(pool[i : i + 32] for i in range(0, len(pool), 32))
        return ids.pop()


_mint = _RandomIds().mint
