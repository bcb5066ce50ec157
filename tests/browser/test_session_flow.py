"""A person's whole visit, in a real browser: register, log in, write, edit, log out."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import verify_email
from playwright.sync_api import Page, expect

REGISTERED = "Your account is ready: we mailed you a link to confirm your address."


def register(page: Page, gateway: str, user: dict[str, str]) -> None:
    page.goto(f"{gateway}/auth/web/register")
    page.get_by_label("Username", exact=True).fill(user["username"])
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_label("Repeat the password").fill(user["password"])
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_text(REGISTERED).first).to_be_visible()
    # Content takes writes from verified accounts: confirm with the mailed link (its page
    # in the browser is tested in test_accounts.py).
    verify_email(gateway, user["email"])


def log_in(page: Page, user: dict[str, str]) -> None:
    page.get_by_label("Username or email").fill(user["username"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Log in").click()


def test_register_log_in_write_edit_and_log_out(
    page, browser_context, gateway, new_user, screenshot
):
    # Register: the page shows the rules, then sends us to log in.
    page.goto(f"{gateway}/auth/web/register")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    screenshot(page, "register")
    register(page, gateway, new_user)
    expect(page).to_have_url(f"{gateway}/auth/web/login?username={new_user['username']}")
    expect(page.get_by_text(REGISTERED)).to_be_visible()
    screenshot(page, "login")

    # Log in: the tokens arrive as HttpOnly cookies, never readable by a script.
    log_in(page, new_user)
    expect(page).to_have_url(f"{gateway}/console/")
    expect(page.get_by_text(f"Signed in as {new_user['username']}")).to_be_visible()
    cookies = {c["name"]: c for c in browser_context.cookies()}
    assert cookies["access_token_cookie"]["httpOnly"]
    assert cookies["access_token_cookie"]["sameSite"] == "Lax"
    assert cookies["refresh_token_cookie"]["httpOnly"]
    assert "access_token_cookie" not in page.evaluate("document.cookie")
    screenshot(page, "console-home")

    # Write a post and see it.
    page.get_by_role("link", name="Write a post").click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()
    page.get_by_label("Title").fill("Hello from a real browser")
    page.get_by_label("Text").fill("Written in headless Chromium.\nSecond line.")
    screenshot(page, "post-new")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Hello from a real browser")).to_be_visible()
    expect(page.get_by_text("is published")).to_be_visible()
    screenshot(page, "post")
    post_url = page.url

    page.goto(f"{gateway}/console/posts/")
    expect(page.get_by_role("link", name="Hello from a real browser")).to_be_visible()
    screenshot(page, "posts")

    # Edit it; an empty title is refused beside the field, then a good one is saved.
    page.goto(post_url)
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#title-error")).to_be_visible()
    screenshot(page, "post-edit-error")
    page.get_by_label("Title").fill("Hello again, edited")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(post_url)
    expect(page.get_by_role("heading", name="Hello again, edited")).to_be_visible()

    # An item, so the export has one of each.
    page.goto(f"{gateway}/console/items/new")
    page.get_by_label("Name").fill("Desk lamp")
    page.get_by_label("Description").fill("Warm light, barely used.")
    page.get_by_label("Price").fill("25.50")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Desk lamp")).to_be_visible()
    screenshot(page, "item")
    page.goto(f"{gateway}/console/items/")
    screenshot(page, "items")

    # Profile, and "download my data" as a JSON attachment.
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    screenshot(page, "profile")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data").click()
    download = download_info.value
    assert download.suggested_filename == f"my-data-{new_user['username']}.json"
    exported = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert exported["account"]["username"] == new_user["username"]
    assert [p["title"] for p in exported["posts"]] == ["Hello again, edited"]
    assert [i["name"] for i in exported["items"]] == ["Desk lamp"]

    # Delete the item again, from its own page.
    page.goto(f"{gateway}/console/items/{exported['items'][0]['id']}")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("The item is deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="Desk lamp")).to_have_count(0)

    page.goto(f"{gateway}/auth/web/password")
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    screenshot(page, "password")

    # Log out from the console's menu: cookies cleared, session revoked.
    access = {c["name"]: c["value"] for c in browser_context.cookies()}["access_token_cookie"]
    page.goto(f"{gateway}/console/")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    screenshot(page, "logged-out")
    assert "access_token_cookie" not in {c["name"] for c in browser_context.cookies()}
    status = page.evaluate(
        """async ([url, token]) =>
            (await fetch(url, {headers: {Authorization: "Bearer " + token}})).status""",
        [f"{gateway}/auth/me", access],
    )
    assert status == 401


def test_protected_page_sends_you_to_log_in_and_back(page, gateway, new_user, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{gateway}/console/profile")
    expect(page).to_have_url(f"{gateway}/auth/web/login?next=%2Fconsole%2Fprofile")
    screenshot(page, "login-phone")
    register(page, gateway, new_user)
    page.goto(f"{gateway}/console/posts/new")
    expect(page).to_have_url(f"{gateway}/auth/web/login?next=%2Fconsole%2Fposts%2Fnew")
    log_in(page, new_user)
    expect(page).to_have_url(f"{gateway}/console/posts/new")


def test_expired_access_cookie_is_refreshed_through_the_refresh_cookie(
    page, browser_context, gateway, new_user
):
    register(page, gateway, new_user)
    log_in(page, new_user)
    before = {c["name"]: c["value"] for c in browser_context.cookies()}
    # What the browser does when the access cookie's max-age runs out.
    browser_context.clear_cookies(name="access_token_cookie")
    page.goto(f"{gateway}/console/profile")
    expect(page).to_have_url(f"{gateway}/console/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    after = {c["name"]: c["value"] for c in browser_context.cookies()}
    assert after["refresh_token_cookie"] != before["refresh_token_cookie"]
