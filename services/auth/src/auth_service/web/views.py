"""The hosted pages: register, log in, refresh, log out and change password."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response

from auth_service.web import actions
from auth_service.web.cookies import clear_token_cookies, set_token_cookies
from auth_service.web.forms import (
    PASSWORD_RULE,
    ForgotForm,
    LoginForm,
    LogoutForm,
    PasswordForm,
    RegisterForm,
    ResetForm,
    TotpEnrolForm,
    TotpLoginForm,
    VerifyForm,
)
from shared.auth import token_verifier
from shared.cookie_auth import ACCESS_COOKIE, REFRESH_COOKIE, REFRESH_CSRF_COOKIE, check_csrf
from shared.problems import Problem
from shared.tokens import InvalidToken, Principal, RevocationUnavailable, principal_from_claims
from shared.webui import protect_pages

bp = Blueprint("web", __name__, template_folder="templates")
protect_pages(bp)


@bp.context_processor
def nav_context() -> dict[str, Any]:
    return {"viewer": signed_in()}


Page = Response | tuple[str, int]
CSRF_REFUSED = "This form was not sent from this site or has expired; please try again."


def safe_next(value: str | None) -> str:
    """A local path to go to after the page, never another site (no open redirect)."""
    home = current_app.config["WEB_HOME"]
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return home
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else home


def cookie_claims(name: str, token_type: str) -> dict[str, Any] | None:
    """The verified claims of a token cookie, or None when it is absent or no longer valid."""
    token = request.cookies.get(name)
    if not token:
        return None
    try:
        return token_verifier().verify(token, token_type)
    except (InvalidToken, RevocationUnavailable):
        return None


def signed_in() -> Principal | None:
    # Hosted forms carry Flask-WTF's CSRF token, so the cookie alone identifies here.
    claims = cookie_claims(ACCESS_COOKIE, "access")
    return principal_from_claims(claims) if claims else None


def sign_in_first(next_path: str) -> Response:
    """Send the browser to refresh its tokens when it can, otherwise to the login page."""
    target = "web.refresh" if request.cookies.get(REFRESH_CSRF_COOKIE) else "web.login"
    return redirect(url_for(target, next=next_path))


def render(template: str, form: FlaskForm, **context: Any) -> Page:
    """The page, with a refused CSRF token said at the top of the form.

    Always 200: the gateway turns every error status into problem+json for API clients,
    and a person needs the form back, with the errors beside the fields.
    """
    csrf_field = getattr(form, "csrf_token", None)
    if form.is_submitted() and csrf_field is not None and csrf_field.errors:
        context.setdefault("errors", []).append(CSRF_REFUSED)
    return render_template(template, form=form, password_rule=PASSWORD_RULE, **context), 200


def add_field_errors(form: FlaskForm, problem: Problem) -> list[str]:
    """Put a problem's field errors beside the fields; return the rest for the form's top."""
    general = []
    for error in problem.errors or []:
        field = getattr(form, error.get("field", ""), None)
        if field is not None and field.type != "HiddenField":  # a hidden one shows nothing
            field.errors = [*field.errors, error["message"]]
        else:
            general.append(error["message"])
    if not problem.errors:
        general.append(problem.detail or "That did not work; please try again.")
    return general


@bp.route("/register", methods=["GET", "POST"])
def register() -> Page:
    form = RegisterForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            actions.register(form.username.data, form.email.data, form.password.data)
        except Problem as problem:
            if problem.status not in (409, 422):
                raise
            errors = add_field_errors(form, problem)
        else:
            flash(
                "Your account is ready: we mailed you a link to confirm your address. "
                "Log in to continue.",
                "success",
            )
            return redirect(url_for("web.login", username=form.username.data))
    return render("web/register.html", form, errors=errors)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    form = LoginForm()
    if request.method == "GET" and request.args.get("username"):
        form.username.data = request.args["username"]
    next_path = safe_next(request.values.get("next"))
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            pair = actions.sign_in(
                form.username.data, form.password.data, request.remote_addr or "unknown"
            )
        except Problem as problem:
            if problem.status not in (401, 429):
                raise
            errors = [problem.detail or "Invalid username or password."]
        else:
            if pair.get("mfa_required"):
                second = TotpLoginForm(formdata=None, mfa_token=pair["mfa_token"])
                return render("web/login_totp.html", second, errors=[], next=next_path)
            return _signed_in_response(pair, next_path)
    return render("web/login.html", form, errors=errors, next=next_path)


@bp.route("/login/totp", methods=["POST"])
def login_totp() -> Page:
    """The second form of a two-factor login: the code, after the password."""
    form = TotpLoginForm()
    next_path = safe_next(request.values.get("next"))
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            pair = actions.finish_login(
                form.mfa_token.data, form.code.data, request.remote_addr or "unknown"
            )
        except Problem as problem:
            if problem.status not in (401, 422, 429):
                raise
            errors = [problem.detail or "That code did not work."]
        else:
            return _signed_in_response(pair, next_path)
    return render("web/login_totp.html", form, errors=errors, next=next_path)


@bp.get("/refresh")
def refresh() -> Response:
    """Trade the refresh cookie for new token cookies, then go back where the user was."""
    next_path = safe_next(request.args.get("next"))
    claims = cookie_claims(REFRESH_COOKIE, "refresh")
    pair = None
    if claims is not None:
        try:
            pair = actions.refresh(claims)
        except Problem as problem:
            if problem.status != 401:
                raise
    if pair is None:
        response = redirect(url_for("web.login", next=next_path))
        clear_token_cookies(response)
        return response
    return _signed_in_response(pair, next_path)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Page:
    form = LogoutForm()
    principal = signed_in()
    if request.method == "GET":
        if principal is None and not request.cookies.get(REFRESH_CSRF_COOKIE):
            return redirect(url_for("web.login"))
        return render("web/logout.html", form, principal=principal)
    access = cookie_claims(ACCESS_COOKIE, "access")
    session_claims = access or cookie_claims(REFRESH_COOKIE, "refresh")
    # The hosted form sends Flask-WTF's token; the console's button sends the access
    # token's double-submit value instead (it cannot know auth's session token).
    if not form.validate_on_submit() and not _double_submitted(access):
        return render("web/logout.html", form, principal=principal)
    if session_claims is not None:
        actions.sign_out(session_claims)
    flash("You have been logged out.", "success")
    response = redirect(url_for("web.login"))
    clear_token_cookies(response)
    return response


@bp.route("/password", methods=["GET", "POST"])
def password() -> Page:
    principal = signed_in()
    if principal is None:
        return sign_in_first(url_for("web.password"))
    form = PasswordForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            actions.change_password(
                principal.id,
                form.current_password.data,
                form.new_password.data,
                principal.claims.get("sid"),
            )
        except Problem as problem:
            if problem.status not in (401, 422, 429):
                raise
            errors = add_field_errors(form, problem)
        else:
            flash("Your password is changed. Every other session is signed out.", "success")
            return redirect(url_for("web.password"))
    return render("web/password.html", form, errors=errors, principal=principal)


def _double_submitted(access: dict[str, Any] | None) -> bool:
    if access is None:
        return False
    try:
        check_csrf(access)
    except Problem:
        return False
    return True


def _signed_in_response(pair: dict[str, Any], next_path: str) -> Response:
    verifier = token_verifier()
    response = redirect(next_path)
    set_token_cookies(
        response,
        pair,
        verifier.decode(pair["access_token"], "access"),
        verifier.decode(pair["refresh_token"], "refresh"),
    )
    return response


def _no_referrer(page: Page) -> Page:
    """A page whose address holds a mailed secret: never sent on as a Referer."""
    response = make_response(page)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Page:
    """Confirm an address from the mailed link: the link shows a button, the button confirms."""
    form = VerifyForm()
    if request.method == "GET":
        form.token.data = request.args.get("token", "")
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            actions.confirm_email(form.token.data)
        except Problem as problem:
            if problem.status not in (409, 422):
                raise
            errors = add_field_errors(form, problem)
            form.token.data = ""
        else:
            flash("Your e-mail address is confirmed.", "success")
            # Signed in: new cookies, so the tokens say so (content takes writes at once).
            if request.cookies.get(REFRESH_CSRF_COOKIE):
                return redirect(url_for("web.refresh", next=url_for("web.security")))
            return redirect(url_for("web.login"))
    return _no_referrer(render("web/verify.html", form, errors=errors))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> Page:
    form = ForgotForm()
    if form.validate_on_submit():
        actions.request_reset(form.email.data)
        minutes = f"{current_app.config['PASSWORD_RESET_TOKEN_MINUTES']:g}"
        return render("web/forgot.html", form, sent=True, minutes=minutes)
    return render("web/forgot.html", form, errors=[])


@bp.route("/reset", methods=["GET", "POST"])
def reset() -> Page:
    form = ResetForm()
    if request.method == "GET":
        form.token.data = request.args.get("token", "")
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            actions.reset_password(form.token.data, form.new_password.data)
        except Problem as problem:
            if problem.status != 422:
                raise
            errors = add_field_errors(form, problem)
        else:
            flash("Your password is changed and every session is signed out. Log in.", "success")
            response = redirect(url_for("web.login"))
            clear_token_cookies(response)
            return response
    return _no_referrer(render("web/reset.html", form, errors=errors))


@bp.route("/security", methods=["GET", "POST"])
def security() -> Page:
    """The account's e-mail status (with a resend button) and its sign-in protections."""
    principal = signed_in()
    if principal is None:
        return sign_in_first(url_for("web.security"))
    account = actions.account_of(principal.id)
    form = LogoutForm()  # only its CSRF token
    errors: list[str] = []
    if form.validate_on_submit() and request.form.get("action") == "totp-off":
        try:
            actions.turn_off_totp(
                account, request.form.get("password", ""), request.form.get("code", "")
            )
        except Problem as problem:
            if problem.status not in (409, 422, 429):
                raise
            errors = [e["message"] for e in problem.errors or []] or [problem.detail or ""]
            errors = [f"That did not work: {e}" for e in errors]
        else:
            flash("Two-factor login is off.", "success")
            return redirect(url_for("web.security"))
    elif form.validate_on_submit() and request.form.get("action") == "resend":
        try:
            actions.resend_verification(account)
        except Problem as problem:
            if problem.status not in (409, 429):
                raise
            errors = [problem.detail or "That did not work; please try again."]
        else:
            flash(f"A new link is on its way to {account.email}.", "success")
            return redirect(url_for("web.security"))
    return render("web/security.html", form, errors=errors, account=account)


@bp.route("/totp", methods=["GET", "POST"])
def totp() -> Page:
    """Turn on two-factor login: a QR code of a new secret, then a typed code confirms it."""
    principal = signed_in()
    if principal is None:
        return sign_in_first(url_for("web.totp"))
    account = actions.account_of(principal.id)
    if account.totp_enabled:
        return redirect(url_for("web.security"))
    form = TotpEnrolForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            codes = actions.confirm_totp(account, form.code.data)
        except Problem as problem:
            if problem.status != 422:
                raise
            errors = add_field_errors(form, problem)
        else:
            return render("web/totp.html", form, recovery_codes=codes)
    if request.method == "POST" and account.totp_secret:
        # A wrong code: show the same secret again rather than making a new one.
        return render("web/totp.html", form, errors=errors, **_enrolment(account, None))
    return render(
        "web/totp.html", form, errors=errors, **_enrolment(account, actions.begin_totp(account))
    )


def _enrolment(account: Any, started: dict[str, str] | None) -> dict[str, Any]:
    if started is None:
        started = actions.current_totp(account)
    qr = segno.make(started["otpauth_uri"], error="m")
    svg = qr.svg_inline(scale=4, title="QR code of the two-factor key")
    # segno's own SVG markup of the URI (the QR modules as paths, our title): no user text.
    return {"secret": started["secret"], "qr_svg": Markup(svg)}  # noqa: S704  # nosec B704
