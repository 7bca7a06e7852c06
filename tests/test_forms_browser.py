"""/join and /confirm in Chromium against a real `alerts serve`, JavaScript off and on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from test_forms import API_KEY, _set
from tracking_helpers import live_server

from alerts.delivery.providers.sendgrid.standin import FakeSendGrid

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeSendGrid, Path]]:
    from click.testing import CliRunner

    from alerts.cli import main

    folder = tmp_path_factory.mktemp("forms-browser")
    with FakeSendGrid(api_key=API_KEY) as fake:
        CliRunner().invoke(main, ["init", str(folder)], catch_exceptions=False)
        _set(
            folder,
            base_url="https://act.example.org",
            org_name="End QI",
            from_email="updates@example.org",
            sendgrid_host=fake.url,
            signup_fields="first_name,zip*",
        )
        with live_server(folder, free_port(), env={"SENDGRID_API_KEY": API_KEY}) as base:
            yield base, fake, folder


def _confirm_path(fake: FakeSendGrid, email: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for delivery in fake.deliveries():
            if delivery.email == email:
                found = re.search(r"https://act\.example\.org(/confirm/\S+)", delivery.text or "")
                assert found
                return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no confirmation message reached {email}")


@pytest.mark.parametrize("javascript", [False, True])
def test_signing_up_and_confirming_in_chromium(
    browser: Any, live: tuple[str, FakeSendGrid, Path], javascript: bool
):
    base, fake, _folder = live
    email = f"browser-{'js' if javascript else 'nojs'}@example.com"
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    try:
        page.goto(base + "/join?source=browser")
        page.fill("#signup-email", "not an address")
        page.fill("#signup-first_name", "<Ann>")
        page.fill("#signup-zip", "62701")
        page.click("button[type=submit]")
        assert "This is not a valid email address" in page.content()
        assert page.input_value("#signup-first_name") == "<Ann>"  # kept as typed
        page.fill("#signup-email", email)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Check your inbox to confirm")
        page.goto(base + _confirm_path(fake, email))
        assert page.is_visible("text=Confirm your subscription")
        page.click("button[type=submit]")
        page.wait_for_selector("text=You are subscribed")
    finally:
        context.close()


def test_the_honeypot_is_not_visible(browser: Any, live: tuple[str, FakeSendGrid, Path]):
    base, _fake, _folder = live
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(base + "/join")
        box = page.locator("#signup-website").bounding_box()
        assert box is not None and box["x"] < 0  # off-screen
    finally:
        context.close()
