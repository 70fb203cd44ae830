// The fleet view: every workspace as a tree by parent_id, refreshed in place every 1.5 s (rows are
// kept and updated, so a row being clicked is never replaced under the pointer), plus creating an
// external workspace and showing its connection block once.

import { ApiError, every, get, post, query } from "./api.js";
import { $, clock, copyText, el, heartbeatText, isStale, messageText, setText, show, statusClass } from "./dom.js";

const REFRESH_MS = 1500;
const SLOW_REFRESH_MS = 5000;
const CONNECTION_FIELDS = [
  ["workspace_id", "Workspace id"],
  ["platform_url", "Platform URL"],
  ["auth_token", "Workspace token"],
  ["registry_endpoint", "Register endpoint"],
  ["heartbeat_endpoint", "Heartbeat endpoint"],
  ["curl_register_template", "Register with curl"],
  ["python_snippet", "Python (molecule_agent)"],
  ["claude_code_channel_snippet", "Claude Code channel"],
];

function workspaceRow(workspace) {
  const parts = {
    dot: el("span", { class: "dot" }),
    name: el("a", { class: "ws-name", href: `#/workspaces/${encodeURIComponent(workspace.id)}` }),
    status: el("span"),
    runtime: el("span", { class: "meta runtime", title: "runtime" }),
    mode: el("span", { class: "meta mode", title: "delivery mode" }),
    tasks: el("span", { class: "meta tasks", title: "active tasks / max concurrent tasks" }),
    heartbeat: el("span", { class: "meta heartbeat" }),
    children: el("ul", { class: "tree children" }),
  };
  const row = el(
    "div",
    { class: "ws-row" },
    parts.dot, parts.name, parts.status, parts.runtime, parts.mode, parts.tasks, parts.heartbeat,
  );
  parts.li = el("li", { dataset: { workspaceId: workspace.id } }, row, parts.children);
  return parts;
}

function updateRow(parts, workspace) {
  parts.li.dataset.status = workspace.status;
  parts.dot.className = `dot ${statusClass(workspace.status).split(" ")[1]}`;
  parts.status.className = statusClass(workspace.status);
  setText(parts.status, workspace.status);
  setText(parts.name, workspace.name);
  setText(parts.runtime, workspace.runtime || "");
  setText(parts.mode, workspace.delivery_mode || "mode not chosen");
  setText(parts.tasks, `${workspace.active_tasks}/${workspace.max_concurrent_tasks} tasks`);
  setText(parts.heartbeat, heartbeatText(workspace.last_heartbeat_at));
  parts.heartbeat.classList.toggle("stale", isStale(workspace.last_heartbeat_at));
}

export function startFleet({ report, notify }) {
  const listeners = new AbortController();
  const on = (selector, type, handler) => $(selector).addEventListener(type, handler, { signal: listeners.signal });
  const tree = $("#fleet-tree");
  const rows = new Map(); // workspace id -> row parts
  let fleet = [];

  function render(workspaces) {
    fleet = workspaces;
    const present = new Set(workspaces.map((w) => w.id));
    for (const [id, parts] of rows) {
      if (!present.has(id)) {
        parts.li.remove();
        rows.delete(id);
      }
    }
    for (const workspace of workspaces) {
      if (!rows.has(workspace.id)) rows.set(workspace.id, workspaceRow(workspace));
      updateRow(rows.get(workspace.id), workspace);
    }
    // Place each row under its parent (a parent not in the list: at the root), in the API's
    // order (oldest first), moving only rows that are out of place.
    const lastPlaced = new Map();
    for (const workspace of workspaces) {
      const parent = workspace.parent_id && rows.get(workspace.parent_id);
      const container = parent ? parent.children : tree;
      const li = rows.get(workspace.id).li;
      const previous = lastPlaced.get(container) || null;
      const expectedNext = previous ? previous.nextElementSibling : container.firstElementChild;
      if (li !== expectedNext) container.insertBefore(li, expectedNext);
      lastPlaced.set(container, li);
    }
    setText($("#fleet-count"), `${workspaces.length} workspace${workspaces.length === 1 ? "" : "s"}`);
    show($("#fleet-empty"), workspaces.length === 0);
  }

  function fillParents() {
    const select = $("#create-parent");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "none (a root workspace)" }));
    for (const workspace of fleet) {
      select.append(el("option", { value: workspace.id, text: `${workspace.name} (${workspace.id.slice(0, 8)})` }));
    }
    select.value = fleet.some((w) => w.id === chosen) ? chosen : "";
  }

  function hideConnection() {
    // The token leaves the page for good: "shown once".
    $("#connection-fields").replaceChildren();
    setText($("#copy-result"), "");
    show($("#connection-panel"), false);
  }

  function showConnection(name, connection) {
    const fields = $("#connection-fields");
    fields.replaceChildren();
    for (const [key, label] of CONNECTION_FIELDS) {
      if (connection[key] === undefined || connection[key] === null) continue;
      const value = String(connection[key]);
      const copy = el("button", { type: "button", class: "quiet copy", dataset: { field: key }, text: "Copy" });
      copy.addEventListener("click", async () => setText(copy, (await copyText(value)) ? "Copied" : "Select and copy"));
      fields.append(el("dt", {}, label, copy), el("dd", {}, el("pre", { dataset: { field: key }, text: value })));
    }
    setText($("#connection-name"), name);
    show($("#connection-panel"), true);
    $("#connection-copy").onclick = async () => {
      const copied = await copyText(JSON.stringify(connection, null, 2));
      setText($("#copy-result"), copied ? "Copied to the clipboard" : "The browser refused the clipboard: select the text");
    };
  }

  async function create(event) {
    event.preventDefault();
    const name = $("#create-name").value.trim();
    const parent = $("#create-parent").value;
    const body = { name, external: true };
    if (parent) body.parent_id = parent;
    $("#create-submit").disabled = true;
    try {
      const { data } = await post("/workspaces", body);
      $("#create-name").value = "";
      show($("#create-form"), false);
      if (data.connection) showConnection(data.name, data.connection);
      else notify(`Created ${data.name} (${data.status}).`);
      await refresh();
    } catch (error) {
      report(error);
    } finally {
      $("#create-submit").disabled = false;
    }
  }

  async function refresh() {
    render(await get("/workspaces"));
  }

  let failedRouteMissingUntil = 0;

  async function refreshFailedMessages() {
    const panel = $("#fleet-failed-panel");
    if (Date.now() < failedRouteMissingUntil) return;
    try {
      const items = await get(`/admin/a2a-queue${query({ status: "failed", limit: 20 })}`);
      $("#fleet-failed").replaceChildren(
        ...items.map((item) =>
          el(
            "li", {},
            el("span", { class: "meta", text: clock(item.completed_at || item.enqueued_at) }),
            el("span", { text: ` → ${item.workspace_id}` }),
            el("span", { class: "muted", text: ` ${messageText(item.body) || item.method || ""}` }),
            item.last_error ? el("div", { class: "error", text: item.last_error }) : null,
          ),
        ),
      );
      show(panel, items.length > 0);
    } catch (error) {
      show(panel, false);
      if (!(error instanceof ApiError && error.routeMissing)) throw error;
      failedRouteMissingUntil = Date.now() + 30000; // not deployed yet: ask again later
    }
  }

  on("#new-workspace", "click", () => {
    fillParents();
    show($("#create-form"), true);
    $("#create-name").focus();
  });
  on("#create-cancel", "click", () => show($("#create-form"), false));
  on("#create-form", "submit", create);
  on("#connection-done", "click", hideConnection);

  const stopFast = every(REFRESH_MS, refresh, report);
  const stopSlow = every(SLOW_REFRESH_MS, refreshFailedMessages, report);
  return () => {
    stopFast();
    stopSlow();
    listeners.abort();
    hideConnection();
    show($("#create-form"), false);
    tree.replaceChildren();
  };
}
