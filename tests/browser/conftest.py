"""The operator console in headless Chromium: Debian's `chromium` and `chromium-driver` driven by
selenium (the driver's path is given, so Selenium Manager never runs and nothing is downloaded),
against the local stack as a real process with ADMIN_TOKEN set. Without a Chromium every test here
is skipped with one reason. Screenshots of the main views land in .artifacts/browser/."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import REPO, LocalStackProcess, start_local_stack

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER_PATH", "/usr/bin/chromedriver"))
ARTIFACTS = REPO / ".artifacts" / "browser"
# No network beyond the page's own origin: no updates, sync, QUIC or first-run calls home.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
]  # fmt: skip
UI_TIMEOUT = 10.0  # the console refreshes every 1.5 s
AGENT_TIMEOUT = 40.0  # a managed agent starting (or restarting) as a process


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this directory's tests `browser`; without a Chromium, skip them all with one reason
    (a skip marker folds into one summary line, where a skip raised per test would not)."""
    here = Path(__file__).parent
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        item.add_marker(pytest.mark.browser)
        if missing:
            reason = f"no Chromium ({', '.join(missing)} missing): apt-get install chromium chromium-driver"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def admin_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[LocalStackProcess]:
    """One local stack per module (tests create their own workspaces), with an admin token set."""
    stack = start_local_stack(database_url, tmp_path_factory.mktemp("console-stack"), ADMIN_TOKEN=admin_token)
    yield stack
    stack.stop()


class Platform:
    """The API the tests use to set the scene, as the admin."""

    def __init__(self, base_url: str, admin_token: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)

    def create(self, **fields: Any) -> dict[str, Any]:
        answer = self.http.post("/workspaces", json=fields)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/workspaces/{workspace_id}").json())


@pytest.fixture
def platform(stack: LocalStackProcess, admin_token: str) -> Iterator[Platform]:
    platform = Platform(stack.base_url, admin_token)
    yield platform
    platform.http.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
        # Whatever the test did, the page never broke its Content-Security-Policy nor threw.
        broken = [
            entry["message"]
            for entry in driver.get_log("browser")
            if entry["source"] == "javascript" or "Content Security Policy" in entry["message"]
        ]
        assert not broken, broken
    finally:
        driver.quit()


def wait(driver: WebDriver, timeout: float = UI_TIMEOUT) -> WebDriverWait:
    # The console replaces rows and lists as it refreshes: a stale element just means "look again".
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])


def find(driver: WebDriver, css: str) -> WebElement | None:
    try:
        return driver.find_element(By.CSS_SELECTOR, css)
    except NoSuchElementException:
        return None


def text_of(driver: WebDriver, css: str) -> str:
    element = find(driver, css)
    return element.text if element is not None else ""


def sign_in(driver: WebDriver, base_url: str, token: str) -> None:
    driver.get(base_url + "/")
    wait(driver).until(lambda d: d.find_element(By.ID, "token-input").is_displayed())
    driver.find_element(By.ID, "token-input").send_keys(token)
    driver.find_element(By.ID, "login-button").click()


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path
