"""Turning on two-factor login in a real browser: QR code, typed code, then a login with it."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import expect
from test_session_flow import log_in, register


def test_enrol_on_the_hosted_page_and_log_in_with_a_code(page, gateway, new_user, screenshot):
    register(page, gateway, new_user)
    log_in(page, new_user)
    page.goto(f"{gateway}/auth/web/security")
    expect(page.get_by_test_id("totp-status")).to_have_text("off")
    page.get_by_role("link", name="Turn on two-factor login").click()
    expect(page.get_by_role("heading", name="Turn on two-factor login")).to_be_visible()
    expect(page.locator("figure.qr svg")).to_be_visible()
    screenshot(page, "totp-enrol")
    secret = page.get_by_test_id("totp-secret").inner_text()
    totp = pyotp.TOTP(secret)

    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn it on").click()
    expect(page.get_by_text("The code is not correct")).to_be_visible()
    assert page.get_by_test_id("totp-secret").inner_text() == secret  # the same key again

    used = totp.now()
    page.get_by_label("Code from the app").fill(used)
    page.get_by_role("button", name="Turn it on").click()
    expect(page.get_by_role("heading", name="Two-factor login is on")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    screenshot(page, "totp-recovery-codes")

    # Log out, then in again: the password, then a second form asks for the code.
    page.context.clear_cookies()
    page.goto(f"{gateway}/auth/web/login")
    log_in(page, new_user)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    screenshot(page, "login-totp")
    while (code := totp.now()) == used:
        time.sleep(0.5)
    page.get_by_role("textbox", name="Code").fill(code)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{gateway}/console/")
    page.goto(f"{gateway}/auth/web/security")
    expect(page.get_by_test_id("totp-status")).to_have_text("on")
    screenshot(page, "security")
