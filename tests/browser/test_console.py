"""Issue 17's acceptance in a real browser: the operator console signs in with a token, follows the
fleet and one workspace live (no reload), sends a message, restarts, creates an external workspace
with its connection block shown once, deletes with a confirmation naming the children, and shows
refusals and outages as messages."""

from __future__ import annotations

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.conftest import AGENT_TIMEOUT, Platform, find, screenshot, sign_in, text_of, wait
from tests.e2e.conftest import LocalStackProcess


def _row(workspace_id: str) -> str:
    return f'#fleet-tree li[data-workspace-id="{workspace_id}"]'


def _open_workspace(browser: WebDriver, workspace: dict) -> None:
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"{_row(workspace['id'])} a.ws-name")).click()
    wait(browser).until(lambda d: d.find_element(By.ID, "ws-name").text == workspace["name"])


def _mark_page(browser: WebDriver) -> None:
    """A marker that a reload would wipe out."""
    browser.execute_script("window.consoleTestMarker = 'not reloaded'")


def _not_reloaded(browser: WebDriver) -> bool:
    return browser.execute_script("return window.consoleTestMarker") == "not reloaded"


def test_a_wrong_token_is_refused_with_401_and_the_prompt_stays(browser: WebDriver, stack: LocalStackProcess) -> None:
    sign_in(browser, stack.base_url, "not-the-admin-token")

    error = wait(browser).until(lambda d: text_of(d, "#login-error"))
    assert "401" in error and "invalid admin auth token" in error
    assert browser.find_element(By.ID, "login-view").is_displayed()
    assert not browser.find_element(By.ID, "fleet-view").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('molecule.console.token')") is None


def test_signed_in_operator_sees_a_new_workspace_appear_with_its_status(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    sign_in(browser, stack.base_url, admin_token)
    wait(browser).until(lambda d: d.find_element(By.ID, "fleet-view").is_displayed())
    _mark_page(browser)
    # the token is kept for this tab's session only
    assert browser.execute_script("return sessionStorage.getItem('molecule.console.token')") == admin_token
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []

    lead = platform.create(name="lead", runtime="langgraph")
    helper = platform.create(name="helper", external=True, parent_id=lead["id"])

    wait(browser, AGENT_TIMEOUT).until(lambda d: find(d, f"{_row(lead['id'])}[data-status='online']"))
    child = wait(browser).until(lambda d: find(d, f"{_row(lead['id'])} li[data-workspace-id='{helper['id']}']"))
    assert child.get_attribute("data-status") == "awaiting_agent"
    lead_row = browser.find_element(By.CSS_SELECTOR, f"{_row(lead['id'])} > .ws-row")
    assert "langgraph" in lead_row.text and "push" in lead_row.text and "0/1 tasks" in lead_row.text
    assert "heartbeat" in lead_row.text and "ago" in lead_row.text
    assert _not_reloaded(browser)
    screenshot(browser, "fleet")


def test_message_to_push_agent_gets_its_reply_in_the_feed_without_reload(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    pusher = platform.create(name="pusher", runtime="langgraph")
    sign_in(browser, stack.base_url, admin_token)
    _open_workspace(browser, pusher)
    wait(browser, AGENT_TIMEOUT).until(lambda d: text_of(d, "#ws-status") == "online")
    _mark_page(browser)

    browser.find_element(By.ID, "message-input").send_keys("hello from the console")
    browser.find_element(By.ID, "send-button").click()

    reply = wait(browser).until(lambda d: find(d, "#feed li[data-type='a2a_receive'] .msg.reply"))
    assert reply.text == "echo: hello from the console"
    request = browser.find_element(By.CSS_SELECTOR, "#feed li[data-type='a2a_receive'] .msg.request")
    assert request.text == "hello from the console"
    assert text_of(browser, "#send-result") == "delivered"
    assert _not_reloaded(browser)
    screenshot(browser, "workspace")


def test_restart_shows_the_status_change(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    managed = platform.create(name="restartable", runtime="langgraph")
    sign_in(browser, stack.base_url, admin_token)
    _open_workspace(browser, managed)
    wait(browser, AGENT_TIMEOUT).until(lambda d: text_of(d, "#ws-status") == "online")
    wait(browser).until(lambda d: text_of(d, "#ws-details dd[data-field='instance']").startswith("pid:"))
    first_instance = text_of(browser, "#ws-details dd[data-field='instance']")
    provisioning_events = "#events li[data-type='WORKSPACE_PROVISIONING']"
    before = len(browser.find_elements(By.CSS_SELECTOR, provisioning_events))
    _mark_page(browser)

    browser.find_element(By.ID, "action-restart").click()

    wait(browser).until(lambda d: text_of(d, "#action-result") == "restart requested")
    # The status went provisioning (the event log keeps it however fast the agent came back) …
    wait(browser, AGENT_TIMEOUT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, provisioning_events)) > before)
    assert '"reason":"api"' in text_of(browser, provisioning_events)
    # … and the new agent brought it back online.
    wait(browser, AGENT_TIMEOUT).until(
        lambda d: (
            text_of(d, "#ws-status") == "online"
            and text_of(d, "#ws-details dd[data-field='instance']") not in ("", first_instance)
        )
    )
    assert _not_reloaded(browser)


def test_new_external_workspace_shows_its_connection_block_once(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    sign_in(browser, stack.base_url, admin_token)
    wait(browser).until(lambda d: d.find_element(By.ID, "new-workspace").is_displayed())
    browser.find_element(By.ID, "new-workspace").click()
    browser.find_element(By.ID, "create-name").send_keys("my laptop")
    browser.find_element(By.ID, "create-submit").click()

    token = wait(browser).until(lambda d: text_of(d, "#connection-fields pre[data-field='auth_token']"))
    workspace_id = text_of(browser, "#connection-fields pre[data-field='workspace_id']")
    shown = {
        pre.get_attribute("data-field") for pre in browser.find_elements(By.CSS_SELECTOR, "#connection-fields pre")
    }
    assert shown == {
        "workspace_id", "platform_url", "auth_token", "registry_endpoint", "heartbeat_endpoint",
        "curl_register_template", "python_snippet", "claude_code_channel_snippet",
    }  # fmt: skip
    # the token shown is the workspace's real token
    state = platform.http.get(f"/workspaces/{workspace_id}/state", headers={"Authorization": f"Bearer {token}"})
    assert state.status_code == 200, state.text
    wait(browser).until(lambda d: find(d, f"{_row(workspace_id)}[data-status='awaiting_agent']"))
    browser.find_element(By.ID, "connection-copy").click()
    assert wait(browser).until(lambda d: text_of(d, "#copy-result"))
    screenshot(browser, "connection")

    browser.find_element(By.ID, "connection-done").click()

    assert not browser.find_element(By.ID, "connection-panel").is_displayed()
    assert token not in browser.page_source


def test_delete_confirmation_names_the_children_the_cascade_removes(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    team = platform.create(name="team", external=True)
    member = platform.create(name="member", external=True, parent_id=team["id"])
    sign_in(browser, stack.base_url, admin_token)
    _open_workspace(browser, team)

    browser.find_element(By.ID, "action-delete").click()
    browser.find_element(By.ID, "delete-confirm-button").click()

    named = wait(browser).until(lambda d: find(d, f"#delete-children li[data-workspace-id='{member['id']}']"))
    assert "member" in named.text
    assert "1 child workspace" in text_of(browser, "#delete-question")
    assert platform.http.get(f"/workspaces/{team['id']}").status_code == 200  # nothing deleted yet

    browser.find_element(By.ID, "delete-confirm-button").click()

    wait(browser).until(lambda d: d.find_element(By.ID, "fleet-view").is_displayed())
    assert "Deleted team and 1 child workspace" in text_of(browser, "#notice-text")
    assert platform.http.get(f"/workspaces/{team['id']}").status_code == 410
    assert platform.http.get(f"/workspaces/{member['id']}").status_code == 410
    wait(browser).until(lambda d: find(d, _row(team["id"])) is None)


def test_a_refused_action_shows_the_platforms_error_text(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    laptop = platform.create(name="external one", external=True)
    sign_in(browser, stack.base_url, admin_token)
    _open_workspace(browser, laptop)

    browser.find_element(By.ID, "action-hibernate").click()

    notice = wait(browser).until(lambda d: text_of(d, "#notice-text"))
    assert notice == "an external workspace cannot be hibernated by the platform"
    assert browser.find_element(By.ID, "workspace-view").is_displayed()


def test_a_revoked_org_token_returns_to_the_prompt(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform
) -> None:
    minted = platform.http.post("/org/tokens", json={"name": "console test"}).json()
    org_token = minted["auth_token"]
    sign_in(browser, stack.base_url, org_token)
    wait(browser).until(lambda d: d.find_element(By.ID, "fleet-view").is_displayed())

    assert platform.http.delete(f"/org/tokens/{minted['id']}").status_code == 200

    error = wait(browser).until(lambda d: text_of(d, "#login-error"))
    assert error.startswith("The platform refused the token (401)")
    assert browser.find_element(By.ID, "login-view").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('molecule.console.token')") is None


def test_an_unreachable_platform_shows_a_retrying_banner_until_it_answers(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    sign_in(browser, stack.base_url, admin_token)
    wait(browser).until(lambda d: d.find_element(By.ID, "fleet-view").is_displayed())
    browser.execute_cdp_cmd("Network.enable", {})

    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/workspaces*"]})
    banner = wait(browser).until(lambda d: d.find_element(By.ID, "banner") if text_of(d, "#banner") else None)
    assert banner.text == "platform unavailable — retrying"
    assert browser.find_element(By.ID, "fleet-view").is_displayed()  # still signed in

    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    wait(browser).until(lambda d: not d.find_element(By.ID, "banner").is_displayed())


def test_sections_are_shown_exactly_for_the_apis_that_exist(
    browser: WebDriver, stack: LocalStackProcess, platform: Platform, admin_token: str
) -> None:
    """Queue, delegations, memories and secrets light up once their API is deployed: a 404 from
    the route itself hides the section, any other answer shows it."""
    workspace = platform.create(name="sections", external=True)
    base = f"/workspaces/{workspace['id']}"
    sections = {
        "#queue-panel": f"{base}/a2a/queue?status=queued",
        "#delegations-panel": f"{base}/delegations",
        "#memories-panel": f"{base}/memories",
        "#secrets-panel": f"{base}/secrets",
    }
    deployed = {}
    for panel, path in sections.items():
        answer = platform.http.get(path)
        route_missing = answer.status_code == 404 and answer.json().get("error", "not found") == "not found"
        deployed[panel] = not route_missing
    sign_in(browser, stack.base_url, admin_token)
    _open_workspace(browser, workspace)

    wait(browser).until(lambda d: d.find_element(By.ID, "workspace-view").get_attribute("data-sections-checked"))

    shown = {panel: browser.find_element(By.CSS_SELECTOR, panel).is_displayed() for panel in sections}
    assert shown == deployed
    assert browser.find_element(By.ID, "events").is_displayed()
