"""The authorization endpoint: code + PKCE through the hosted login page, consent remembered.

A person not signed in goes to the hosted login page and comes back; the first time an
app asks for a scope, they are asked to allow it; the answer is remembered per app and
account, so the next time they go straight back to the app.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField

from auth_service.extensions import db
from auth_service.models import Account
from auth_service.oauth_models import Consent, OAuthClient
from auth_service.oauth_server import Grantee, oauth_server, query_client
from auth_service.web.views import cookie_claims, sign_in_first
from shared.cookie_auth import ACCESS_COOKIE
from shared.problems import Problem
from shared.webui import PAGE_HEADERS, protect_pages

bp = Blueprint("authorize", __name__)
protect_pages(bp)

SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are on this site",
    "profile": "See your username",
    "email": "See your e-mail address",
    "items:write": "Create and change items as you",
    "posts:write": "Write and change posts as you",
    "admin": "Act with your administrator rights",
}


class ConsentForm(FlaskForm):
    decision = StringField()


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    server = oauth_server()
    claims = cookie_claims(ACCESS_COOKIE, "access")
    account = db.session.get(Account, int(claims["sub"])) if claims else None
    amr = claims.get("amr") if claims and isinstance(claims.get("amr"), list) else None
    user = Grantee(account, float(claims["iat"]), amr) if account and claims else None
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        # Without a client and redirect URI we trust, the browser is sent nowhere.
        raise Problem(400, error.get_error_description() or error.error) from error
    if user is None:
        return sign_in_first(request.full_path)
    client: OAuthClient = grant.client
    scope = grant.request.scope or ""
    consent = db.session.get(Consent, (client.client_id, user.account.id))
    if request.method == "GET" and (client.first_party or (consent and consent.covers(scope))):
        return server.create_authorization_response(grant_user=user, grant=grant)
    form = ConsentForm()
    if request.method == "POST" and form.validate_on_submit():
        if form.decision.data != "allow":
            return server.create_authorization_response(grant_user=None, grant=grant)
        remember_consent(client.client_id, user.account.id, scope, consent)
        return server.create_authorization_response(grant_user=user, grant=grant)
    page = render_template(
        "web/consent.html",
        form=form,
        client=client,
        account=user.account,
        scopes=scope.split(),
        descriptions=SCOPE_DESCRIPTIONS,
        redirect_origin=origin(grant.redirect_uri),
        action=request.full_path,
        viewer=None,
    )
    return page, 200


def remember_consent(client_id: str, account_id: int, scope: str, consent: Consent | None) -> None:
    if consent is None:
        db.session.add(Consent(client_id=client_id, account_id=account_id, scope=scope))
    else:
        consent.scope = " ".join(dict.fromkeys([*consent.scope.split(), *scope.split()]))
    db.session.commit()


def origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _authorize_target(next_path: str) -> str | None:
    """The registered redirect URI an authorization request in `next_path` returns to."""
    parts = urlsplit(next_path)
    if parts.path != url_for("authorize.authorize"):
        return None
    query = parse_qs(parts.query)
    client_id = (query.get("client_id") or [""])[0]
    redirect_uri = (query.get("redirect_uri") or [""])[0]
    client = query_client(client_id)
    if client is None:
        return None
    if redirect_uri and client.check_redirect_uri(redirect_uri):
        return redirect_uri
    return client.get_default_redirect_uri()


def allow_form_redirects(response: Response) -> Response:
    """Let a form whose answer leads on to an app's redirect URI go there.

    Browsers apply a page's CSP `form-action` to every redirect after its form is sent, so
    the login page (next: /auth/authorize...) and the consent page each name the one
    registered redirect URI's origin the authorization will end at, and nothing else.
    """
    if response.headers.get("Content-Security-Policy") != PAGE_HEADERS["Content-Security-Policy"]:
        return response
    target: str | None = None
    if request.endpoint == "authorize.authorize":
        target = _authorize_target(request.full_path)
    elif request.args.get("next"):
        target = _authorize_target(request.args["next"])
    if target:
        response.headers["Content-Security-Policy"] = PAGE_HEADERS[
            "Content-Security-Policy"
        ].replace("form-action 'self'", f"form-action 'self' {origin(target)}")
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/auth")
    app.after_request(allow_form_redirects)
