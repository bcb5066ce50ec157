"""Checks on account fields, each returning problem-ready error entries."""

from __future__ import annotations

import re
from typing import Any

from auth_service.passwords import password_problem

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,80}")
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our job.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")

Errors = list[dict[str, str]]


def check_username(value: Any, errors: Errors, field: str = "username") -> None:
    if not isinstance(value, str) or not USERNAME.fullmatch(value):
        errors.append({"field": field, "message": "3 to 80 characters of A-Z a-z 0-9 _ . -"})


def check_email(value: Any, errors: Errors, field: str = "email") -> None:
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.fullmatch(value):
        errors.append({"field": field, "message": "must be a valid email address"})


def check_password(value: Any, errors: Errors, field: str = "password") -> None:
    problem = password_problem(value)
    if problem:
        errors.append({"field": field, "message": problem})


def check_known_fields(body: dict[str, Any], allowed: set[str], errors: Errors) -> None:
    for name in sorted(set(body) - allowed):
        errors.append({"field": name, "message": "unknown field"})
