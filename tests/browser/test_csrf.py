"""Forms and cookie-authenticated calls without their CSRF token are refused."""

from __future__ import annotations

from playwright.sync_api import expect
from test_session_flow import log_in, register


def test_login_form_without_its_csrf_token_is_refused(page, gateway, new_user, screenshot):
    register(page, gateway, new_user)
    page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        log_in(page, new_user)
    assert answer.value.status == 200  # the form again: no redirect, no cookies
    expect(page.get_by_text("This form was not sent from this site")).to_be_visible()
    assert "access_token_cookie" not in {c["name"] for c in page.context.cookies()}
    screenshot(page, "csrf-refused-login")


def test_console_form_without_its_csrf_token_is_refused(page, gateway, new_user, screenshot):
    register(page, gateway, new_user)
    log_in(page, new_user)
    page.goto(f"{gateway}/console/posts/new")
    page.get_by_label("Title").fill("Forged")
    page.get_by_label("Text").fill("This must not be published.")
    page.locator("main input[name=csrf_access_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Publish").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    screenshot(page, "csrf-refused-console")
    page.goto(f"{gateway}/console/posts/?q=Forged")
    expect(page.get_by_text("No post matches")).to_be_visible()


def test_api_call_by_cookie_needs_the_csrf_header(page, gateway, new_user):
    register(page, gateway, new_user)
    log_in(page, new_user)
    statuses = page.evaluate(
        """async () => {
            const send = (headers) => fetch("/api/items", {
                method: "POST",
                headers: {"Content-Type": "application/json", ...headers},
                body: JSON.stringify({name: "By cookie", price: 1}),
            }).then((r) => r.status);
            const csrf = document.cookie.split("; ")
                .find((c) => c.startsWith("csrf_access_token=")).split("=")[1];
            return [await send({}), await send({"X-CSRF-TOKEN": csrf})];
        }"""
    )
    assert statuses == [403, 201]
