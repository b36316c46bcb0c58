"""On a shared browser the widget never gives one logged-in customer another's conversation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, FLAGS

SHOP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body>
<h1>Shop</h1><script src="/static/widget.js" data-customer-name="{name}" data-customer-email="{email}" defer></script>
</body></html>"""


@pytest.fixture(scope="module")
def shop_browser() -> Iterator[Browser]:
    """The shop pages are served by Playwright (page.route), which Chromium counts as a public
    address; its local-network-access check would then block their socket to the hub on 127.0.0.1."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*FLAGS, "--disable-features=LocalNetworkAccessChecks"]
        )
        yield launched
        launched.close()


def test_the_next_customer_on_the_same_browser_gets_a_new_conversation(stack, shop_browser: Browser) -> None:
    context = shop_browser.new_context(viewport={"width": 420, "height": 800})  # one browser profile: shared storage
    customers = {"ana": ("Ana", "ana@example.com"), "bo": ("Bo", "bo@example.com")}

    def shop(route: Route) -> None:
        name, email = customers[route.request.url.rsplit("=", 1)[-1]]
        route.fulfill(status=200, content_type="text/html", body=SHOP_PAGE.format(name=name, email=email))

    context.route(f"{stack.hub_url}/shop?customer=*", shop)
    page = context.new_page()
    page.goto(f"{stack.hub_url}/shop?customer=ana")
    page.get_by_test_id("kestrel-launcher").click()
    page.get_by_test_id("kestrel-input").fill("my card number ends 4242, where is my parcel?")
    page.get_by_test_id("kestrel-send").click()
    expect(page.locator('[data-testid="kestrel-message"][data-sender="bot"]').first).to_be_visible(timeout=60_000)
    ana_conversation = page.evaluate("window.KestrelSupport.state().conversation_id")

    page.goto(f"{stack.hub_url}/shop?customer=ana")  # the same customer comes back: same conversation
    page.get_by_test_id("kestrel-launcher").click()
    expect(page.get_by_test_id("kestrel-panel")).to_contain_text("where is my parcel", timeout=30_000)
    assert page.evaluate("window.KestrelSupport.state().conversation_id") == ana_conversation

    page.goto(f"{stack.hub_url}/shop?customer=bo")  # someone else signs in on this browser
    page.get_by_test_id("kestrel-launcher").click()
    expect(page.get_by_test_id("kestrel-panel")).to_be_visible()
    page.wait_for_function("window.KestrelSupport.state().conversation_id !== null", timeout=30_000)
    assert page.evaluate("window.KestrelSupport.state().conversation_id") != ana_conversation
    expect(page.get_by_test_id("kestrel-panel")).not_to_contain_text("where is my parcel")
    context.close()
