"""The API reference at /docs as a client author meets it (issue 20): Swagger UI groups the
operations by domain, and its Authorize button sends the token the author fills in, so "Try it out"
works against the local stack. Screenshots land in .artifacts/browser/api-reference*.png."""

from __future__ import annotations

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.conftest import Platform, screenshot, wait
from tests.e2e.conftest import LocalStackProcess

LIST_WORKSPACES = "#operations-workspaces-list_workspaces_workspaces_get"


def test_docs_groups_operations_by_domain_and_authorize_sends_the_bearer(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    # Given: a workspace only an authorised caller can list
    platform.create(name="listed-in-docs", external=True)

    # When: a client author opens /docs
    browser.get(stack.base_url + "/docs")
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-tag"))

    # Then: one group per domain, in the document's order, none left in "default"
    groups = [tag.get_attribute("data-tag") for tag in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
    assert groups[:4] == ["workspaces", "registry", "a2a", "activity"], groups
    assert "default" not in groups and {"admin", "platform", "secrets", "memories"} <= set(groups)
    screenshot(browser, "api-reference")

    # When: they authorise with the admin token and try GET /workspaces
    browser.find_element(By.CSS_SELECTOR, "button.btn.authorize").click()
    dialog = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".modal-ux"))
    schemes = [block.text for block in dialog.find_elements(By.CSS_SELECTOR, ".auth-container h4")]
    assert [name.split()[0] for name in schemes] == ["workspaceToken", "orgToken", "adminToken"], schemes
    admin = dialog.find_elements(By.CSS_SELECTOR, ".auth-container")[2]
    admin.find_element(By.CSS_SELECTOR, "input").send_keys(admin_token)
    admin.find_element(By.CSS_SELECTOR, "button.authorize").click()
    screenshot(browser, "api-reference-authorize")
    dialog.find_element(By.CSS_SELECTOR, "button.btn-done").click()
    operation = browser.find_element(By.CSS_SELECTOR, LIST_WORKSPACES)
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait(browser).until(lambda d: operation.find_element(By.CSS_SELECTOR, "button.try-out__btn")).click()
    wait(browser).until(lambda d: operation.find_element(By.CSS_SELECTOR, "button.execute")).click()

    # Then: the request carried the bearer and the API answered the list
    status = wait(browser).until(
        lambda d: operation.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status").text
    )
    assert status.strip() == "200", operation.text[:2000]
    curl = operation.find_element(By.CSS_SELECTOR, ".curl-command").text
    assert f"Authorization: Bearer {admin_token}" in curl
    assert "listed-in-docs" in operation.find_element(By.CSS_SELECTOR, ".live-responses-table").text
    screenshot(browser, "api-reference-try-it-out")
