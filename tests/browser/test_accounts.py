"""Recovering an account in a real browser: the mailed links, forgot password, security page."""

from __future__ import annotations

from conftest import MAIL_DIRS, link_in, wait_for_mail
from playwright.sync_api import expect
from test_session_flow import REGISTERED, log_in


def register_only(page, gateway, user) -> None:
    page.goto(f"{gateway}/auth/web/register")
    page.get_by_label("Username", exact=True).fill(user["username"])
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_label("Repeat the password").fill(user["password"])
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_text(REGISTERED).first).to_be_visible()


def test_the_mailed_link_confirms_the_address_in_the_browser(page, gateway, new_user, screenshot):
    register_only(page, gateway, new_user)
    log_in(page, new_user)
    page.goto(f"{gateway}/auth/web/security")
    expect(page.get_by_test_id("email-status")).to_have_text("not verified")
    screenshot(page, "security-unverified")

    mail = wait_for_mail(MAIL_DIRS[gateway], new_user["email"], "confirm your e-mail")
    link, _ = link_in(mail, "/auth/web/verify")
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your e-mail address")).to_be_visible()
    screenshot(page, "verify")
    page.get_by_role("button", name="Confirm my address").click()
    # Signed in: the cookies are renewed on the way, so the tokens say "verified" at once.
    expect(page).to_have_url(f"{gateway}/auth/web/security")
    expect(page.get_by_text("Your e-mail address is confirmed.")).to_be_visible()
    expect(page.get_by_test_id("email-status")).to_have_text("verified")
    status = page.evaluate(
        """async () => (await fetch("/api/items", {
            method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-TOKEN":
                document.cookie.match(/csrf_access_token=([^;]+)/)[1]},
            body: JSON.stringify({name: "Verified lamp", price: 2}),
        })).status"""
    )
    assert status == 201

    # The link works once.
    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_text("This link is not valid")).to_be_visible()


def test_forgot_password_from_the_login_page(page, gateway, new_user, screenshot):
    register_only(page, gateway, new_user)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Your account's email address").fill(new_user["email"])
    screenshot(page, "forgot")
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account has that address")
    screenshot(page, "forgot-sent")

    mail = wait_for_mail(MAIL_DIRS[gateway], new_user["email"], "reset your password")
    link, _ = link_in(mail, "/auth/web/reset")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#new_password-error")).to_be_visible()  # the usual policy, beside it
    screenshot(page, "reset-error")
    new_password = "a browser reset passphrase"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()

    log_in(page, {**new_user, "password": new_password})
    expect(page).to_have_url(f"{gateway}/console/")
