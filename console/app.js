// The console's shell: the token prompt, the router (#/ = fleet, #/workspaces/<id> = one
// workspace), and the one place where errors become what the operator sees — 401 back to the
// prompt, a platform outage as a banner while polling goes on, everything else as a message.

import { ApiError, forgetToken, get, onReachable, storedToken, storeToken } from "./api.js";
import { $, setText, show } from "./dom.js";
import { startFleet } from "./fleet.js";
import { startWorkspace } from "./workspace.js";

const views = ["login-view", "fleet-view", "workspace-view"];
let stopView = () => {};

function showView(id) {
  for (const view of views) show($(`#${view}`), view === id);
}

export function notify(message) {
  setText($("#notice-text"), message);
  show($("#notice"), Boolean(message));
}

function platformUnavailable(down) {
  show($("#banner"), down);
}

onReachable(() => platformUnavailable(false));

function signOut(message) {
  stopView();
  stopView = () => {};
  forgetToken();
  platformUnavailable(false);
  notify("");
  showSession();
  showView("login-view");
  setText($("#login-error"), message || "");
  show($("#login-error"), Boolean(message));
  $("#token-input").focus();
}

// Every failure of a request the console made goes through here.
export function report(error) {
  if (!(error instanceof ApiError)) {
    console.error(error);
    notify(String(error && error.message ? error.message : error));
    return;
  }
  if (error.status === 401) {
    signOut(`The platform refused the token (401): ${error.message}`);
  } else if (error.platformUnavailable) {
    platformUnavailable(true);
  } else {
    notify(error.message);
  }
}

function showSession() {
  const token = storedToken();
  setText($("#session"), token === null ? "" : token ? "signed in with a token" : "no token (development)");
  show($("#sign-out"), token !== null);
}

function route() {
  stopView();
  stopView = () => {};
  if (storedToken() === null) {
    signOut("");
    return;
  }
  showSession();
  const match = /^#\/workspaces\/([^/?#]+)/.exec(location.hash);
  const context = { report, notify };
  if (match) {
    showView("workspace-view");
    stopView = startWorkspace(context, decodeURIComponent(match[1]));
  } else {
    showView("fleet-view");
    stopView = startFleet(context);
  }
}

async function signIn(event) {
  event.preventDefault();
  const button = $("#login-button");
  button.disabled = true;
  show($("#login-error"), false);
  storeToken($("#token-input").value.trim());
  try {
    await get("/workspaces"); // the fleet list needs an admin or org token: a fair test of it
    $("#token-input").value = "";
    route();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(`The platform refused the token (401): ${error.message}`);
    } else {
      forgetToken();
      setText($("#login-error"), error.platformUnavailable ? "platform unavailable — try again shortly" : error.message);
      show($("#login-error"), true);
    }
  } finally {
    button.disabled = false;
  }
}

function start() {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut(""));
  $("#notice-close").addEventListener("click", () => notify(""));
  window.addEventListener("hashchange", route);
  route();
}

start();
