"""The hosted pages' forms; Flask-WTF adds and checks each one's CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from pydantic import BaseModel
from wtforms import EmailField, Field, Form, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from auth_service.passwords import MAX_LENGTH, MIN_LENGTH
from auth_service.schemas import PasswordChange, PasswordReset, Register, field_problem

PASSWORD_RULE = f"{MIN_LENGTH} to {MAX_LENGTH} characters; not a common password."


def api_rule(schema: type[BaseModel]):
    """A form validator from the API schema's own field rule, so both refuse the same input."""

    def validate(form: Form, field: Field) -> None:
        problem = field_problem(schema, field.name, field.data)
        if problem:
            raise ValidationError(problem)

    return validate


class LoginForm(FlaskForm):
    username = StringField("Username or email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), api_rule(Register)])
    email = EmailField("Email", validators=[DataRequired(), api_rule(Register)])
    password = PasswordField("Password", validators=[DataRequired(), api_rule(Register)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), api_rule(PasswordChange)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST that another site cannot forge."""


class VerifyForm(FlaskForm):
    """A button, not the link itself: mail scanners that open links must not use them up."""

    token = HiddenField(validators=[DataRequired()])


class ForgotForm(FlaskForm):
    email = EmailField("Your account's email address", validators=[DataRequired()])


class ResetForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), api_rule(PasswordReset)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class TotpLoginForm(FlaskForm):
    mfa_token = HiddenField(validators=[DataRequired()])
    code = StringField("Code", validators=[DataRequired()])


class TotpEnrolForm(FlaskForm):
    code = StringField("Code from the app", validators=[DataRequired()])
