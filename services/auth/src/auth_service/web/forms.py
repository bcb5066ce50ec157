"""The hosted pages' forms; Flask-WTF adds and checks each one's CSRF token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, Form, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from auth_service.passwords import MAX_LENGTH, MIN_LENGTH
from auth_service.validation import check_email, check_password, check_username

PASSWORD_RULE = f"{MIN_LENGTH} to {MAX_LENGTH} characters; not a common password."


def api_rule(check: Callable[[Any, list[dict[str, str]]], None]):
    """A form validator from the API's own field check, so both refuse the same input."""

    def validate(form: Form, field: Field) -> None:
        errors: list[dict[str, str]] = []
        check(field.data, errors)
        if errors:
            raise ValidationError(errors[0]["message"])

    return validate


class LoginForm(FlaskForm):
    username = StringField("Username or email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), api_rule(check_username)])
    email = EmailField("Email", validators=[DataRequired(), api_rule(check_email)])
    password = PasswordField("Password", validators=[DataRequired(), api_rule(check_password)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), api_rule(check_password)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST that another site cannot forge."""
