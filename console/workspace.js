// One workspace: its state (refreshed every 1.5 s), the live activity feed and structural events
// (each following its since_id cursor), the sections whose APIs may not be deployed yet (queue,
// delegations, memories, secrets: hidden while their route answers 404), and the actions.

import { ApiError, CursorFeed, del, every, get, post, query, uuid } from "./api.js";
import { $, clock, dateTime, el, heartbeatText, isStale, messageText, setText, show, statusClass } from "./dom.js";

const REFRESH_MS = 1500;
const SECTIONS_REFRESH_MS = 3000;
const ABSENT_RECHECK_MS = 30000; // a section whose API is missing is asked again this often
const FEED_MAX = 300;

function short(id) {
  return id ? String(id).slice(0, 8) : "";
}

function words(status) {
  return String(status || "").replaceAll("_", " ");
}

function sourceLabel(row) {
  const data = row.data || {};
  if (row.activity_type === "a2a_send" && row.method === "notify") return "agent → user";
  if (data.source === "canvas_user" || (!row.source_id && row.activity_type === "a2a_receive")) return "user → agent";
  if (data.peer_name) return `${data.peer_name} → agent`;
  if (row.source_id) return `${short(row.source_id)} → ${short(row.target_id)}`;
  return "";
}

function activityItem(row) {
  const requestText = (row.data && row.data.text) || messageText(row.request_body);
  const replyText = messageText(row.response_body);
  const failed = row.status && row.status !== "ok";
  return el(
    "li",
    { dataset: { activityId: row.id, type: row.activity_type } },
    el(
      "div", { class: "feed-head" },
      el("span", { class: "meta", text: clock(row.created_at) }),
      el("span", { class: "badge", text: row.activity_type }),
      row.method ? el("span", { class: "meta", text: row.method }) : null,
      el("span", { class: "meta", text: sourceLabel(row) }),
      row.status ? el("span", { class: failed ? "meta error" : "meta", text: row.status }) : null,
      row.duration_ms !== null && row.duration_ms !== undefined ? el("span", { class: "meta", text: `${row.duration_ms} ms` }) : null,
    ),
    row.summary && !requestText ? el("div", { class: "summary", text: row.summary }) : null,
    requestText ? el("div", { class: "msg request", text: requestText }) : null,
    replyText ? el("div", { class: "msg reply", text: replyText }) : null,
    row.error_detail ? el("div", { class: "error", text: row.error_detail }) : null,
  );
}

function eventItem(event) {
  const payload = event.payload && Object.keys(event.payload).length ? JSON.stringify(event.payload) : "";
  return el(
    "li", { dataset: { eventId: event.id, type: event.event_type } },
    el("span", { class: "meta", text: clock(event.created_at) }),
    el("span", { class: "event-type", text: event.event_type }),
    payload ? el("span", { class: "muted payload", text: payload }) : null,
  );
}

function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of keys) if (data && Array.isArray(data[key])) return data[key];
  return [];
}

function queueItem(item) {
  return el(
    "li", { dataset: { queueId: item.id } },
    el("span", { class: "meta", text: clock(item.enqueued_at) }),
    el("span", { class: "meta", text: item.caller_id ? `from ${short(item.caller_id)}` : "from user" }),
    el("span", { text: ` ${messageText(item.body) || item.method || ""}` }),
    item.attempts ? el("span", { class: "meta", text: ` ${item.attempts} attempt(s)` }) : null,
    item.last_error ? el("div", { class: "error", text: item.last_error }) : null,
  );
}

function delegationItem(item) {
  return el(
    "li", { dataset: { delegationId: item.delegation_id || item.id } },
    el("span", { class: statusClass(item.status), text: item.status }),
    el("span", { class: "meta", text: ` → ${short(item.target_id)} ${clock(item.created_at)}` }),
    el("div", { text: item.summary || "" }),
    item.response_preview ? el("div", { class: "msg reply", text: item.response_preview }) : null,
    item.error ? el("div", { class: "error", text: item.error }) : null,
  );
}

function memoryItem(item) {
  return el(
    "li", {},
    el("span", { class: "badge", text: item.scope || "" }),
    el("span", { class: "meta", text: ` ${item.namespace || ""} ${clock(item.created_at)}` }),
    el("div", { class: "memory", text: item.content || "" }),
  );
}

function secretItem(item) {
  return el(
    "li", {},
    el("code", { text: item.key }),
    el("span", { class: "meta", text: ` ${item.scope || "workspace"}${item.has_value === false ? " (empty)" : ""}` }),
  );
}

export function startWorkspace({ report, notify }, workspaceId) {
  const base = `/workspaces/${encodeURIComponent(workspaceId)}`;
  const listeners = new AbortController();
  const on = (selector, type, handler) => $(selector).addEventListener(type, handler, { signal: listeners.signal });
  let workspace = null;
  let cascade = false; // the delete confirmation already named the children
  let left = false;

  const feed = $("#feed");
  const events = $("#events");
  for (const node of [feed, events, $("#ws-details")]) node.replaceChildren();
  setText($("#ws-name"), "");
  setText($("#ws-status"), "");
  setText($("#send-result"), "");
  setText($("#action-result"), "");
  show($("#feed-empty"), true);
  show($("#delete-confirm"), false);
  delete $("#workspace-view").dataset.sectionsChecked;

  function leave(message) {
    if (left) return;
    left = true;
    if (message) notify(message);
    location.hash = "#/";
  }

  function renderWorkspace(current) {
    workspace = current;
    setText($("#ws-name"), current.name);
    const status = $("#ws-status");
    status.className = statusClass(current.status);
    status.dataset.status = current.status;
    setText(status, current.status);
    const heartbeat = $("#ws-heartbeat");
    setText(heartbeat, heartbeatText(current.last_heartbeat_at));
    heartbeat.classList.toggle("stale", isStale(current.last_heartbeat_at));
    const details = [
      ["id", current.id],
      ["runtime", `${current.runtime}${current.external ? " (external)" : ""}`],
      ["delivery mode", current.delivery_mode || "not chosen yet"],
      ["tasks", `${current.active_tasks} active / ${current.max_concurrent_tasks} max`],
      ["current task", current.current_task],
      ["url", current.url],
      ["parent", current.parent_id],
      ["instance", current.instance_id],
      ["error rate", current.last_error_rate ? current.last_error_rate.toFixed(2) : null],
      ["last error", current.last_sample_error],
      ["created", dateTime(current.created_at)],
    ];
    $("#ws-details").replaceChildren(
      ...details
        .filter(([, value]) => value !== null && value !== undefined && value !== "")
        .flatMap(([label, value]) => {
          const dd = el("dd", { dataset: { field: label } });
          if (label === "parent") dd.append(el("a", { href: `#/workspaces/${encodeURIComponent(value)}`, text: value }));
          else dd.textContent = String(value);
          return [el("dt", { text: label }), dd];
        }),
    );
    show($("#action-pause"), current.status !== "paused");
    show($("#action-resume"), current.status === "paused");
  }

  async function refreshWorkspace() {
    try {
      renderWorkspace(await get(base));
    } catch (error) {
      if (error instanceof ApiError && error.status === 410) return leave(`${workspace ? workspace.name : "The workspace"} was removed.`);
      if (error instanceof ApiError && error.status === 404) return leave(`Workspace ${workspaceId} not found.`);
      throw error;
    }
  }

  const activity = new CursorFeed(`${base}/activity`, {
    onRows(rows) {
      for (const row of rows) feed.prepend(activityItem(row));
      while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
      show($("#feed-empty"), feed.children.length === 0);
    },
    onReset() {
      feed.replaceChildren();
    },
  });

  const structural = new CursorFeed(`/events/${encodeURIComponent(workspaceId)}`, {
    limit: 30,
    onRows(rows) {
      for (const row of rows) events.prepend(eventItem(row));
      while (events.children.length > FEED_MAX) events.lastElementChild.remove();
    },
    onReset() {
      events.replaceChildren();
    },
  });

  // Sections backed by APIs that may not exist yet. A 404 from the route itself hides the section
  // until it is asked again; any other answer shows it.
  const sections = [
    {
      panel: "#queue-panel",
      async load() {
        const [queued, failed] = await Promise.all([
          get(`${base}/a2a/queue${query({ status: "queued", limit: 20 })}`),
          get(`${base}/a2a/queue${query({ status: "failed", limit: 20 })}`),
        ]);
        fill("#queue-queued", listOf(queued, "items", "queue"), queueItem, "nothing queued");
        fill("#queue-failed", listOf(failed, "items", "queue"), queueItem, "nothing failed");
      },
    },
    {
      panel: "#delegations-panel",
      async load() {
        fill("#delegations", listOf(await get(`${base}/delegations`), "delegations"), delegationItem, "no delegations");
      },
    },
    {
      panel: "#memories-panel",
      async load() {
        fill("#memories", listOf(await get(`${base}/memories${query({ limit: 50 })}`), "memories"), memoryItem, "no memories");
      },
    },
    {
      panel: "#secrets-panel",
      async load() {
        fill("#secrets", listOf(await get(`${base}/secrets`), "secrets"), secretItem, "no secrets");
      },
    },
  ];

  function fill(selector, items, render, emptyText) {
    const list = $(selector);
    list.replaceChildren(...(items.length ? items.map(render) : [el("li", { class: "muted", text: emptyText })]));
  }

  async function refreshSections() {
    const now = Date.now();
    await Promise.all(
      sections
        .filter((section) => !section.absentUntil || section.absentUntil <= now)
        .map(async (section) => {
          try {
            await section.load();
            section.absentUntil = 0;
            show($(section.panel), true);
          } catch (error) {
            if (!(error instanceof ApiError && error.routeMissing)) throw error;
            section.absentUntil = Date.now() + ABSENT_RECHECK_MS;
            show($(section.panel), false);
          }
        }),
    );
  }

  async function act(event) {
    const button = event.currentTarget;
    const action = button.dataset.action;
    button.disabled = true;
    setText($("#action-result"), `${action}…`);
    try {
      const { data } = await post(`${base}/${action}`);
      setText($("#action-result"), words(data && data.status) || `${action} done`);
      await refreshWorkspace();
    } catch (error) {
      setText($("#action-result"), "");
      report(error);
    } finally {
      button.disabled = false;
    }
  }

  function askDelete() {
    cascade = false;
    const name = workspace ? workspace.name : workspaceId;
    setText($("#delete-question"), `Delete ${name}? Its agent is stopped and its tokens are revoked.`);
    $("#delete-children").replaceChildren();
    setText($("#delete-confirm-button"), `Delete ${name}`);
    show($("#delete-confirm"), true);
  }

  async function confirmDelete() {
    const name = workspace ? workspace.name : workspaceId;
    const button = $("#delete-confirm-button");
    button.disabled = true;
    try {
      const { data } = await del(`${base}${cascade ? query({ confirm: "true" }) : ""}`);
      const children = data && data.cascade_deleted ? ` and ${data.cascade_deleted} child workspace(s)` : "";
      leave(`Deleted ${name}${children}.`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.body && Array.isArray(error.body.children)) {
        const children = error.body.children;
        cascade = true;
        setText($("#delete-question"), `${name} has ${children.length} child workspace(s). Deleting it also removes:`);
        $("#delete-children").replaceChildren(
          ...children.map((child) =>
            el("li", { dataset: { workspaceId: child.id } }, el("span", { text: child.name }), " ",
              el("span", { class: statusClass(child.status), text: child.status })),
          ),
        );
        setText($("#delete-confirm-button"), `Delete ${name} and ${children.length} child workspace(s)`);
      } else {
        report(error);
      }
    } finally {
      button.disabled = false;
    }
  }

  async function send(event) {
    event.preventDefault();
    const text = $("#message-input").value;
    if (!text.trim()) return;
    const message = {
      jsonrpc: "2.0",
      id: uuid(),
      method: "message/send",
      params: { message: { role: "user", messageId: uuid(), parts: [{ kind: "text", text }] } },
    };
    $("#send-button").disabled = true;
    setText($("#send-result"), "sending…");
    try {
      const { status, data } = await post(`${base}/a2a`, message);
      if (data && data.error) {
        setText($("#send-result"), `not delivered: ${messageText(data)}`);
        return;
      }
      $("#message-input").value = "";
      if (status === 202 || (data && data.queued)) setText($("#send-result"), `queued (${data.queue_depth ?? "?"} waiting)`);
      else if (data && data.status === "queued") setText($("#send-result"), "queued in the agent's inbox (poll mode)");
      else setText($("#send-result"), "delivered");
      await activity.poll();
    } catch (error) {
      setText($("#send-result"), `not sent: ${error.message}`);
      if (!(error instanceof ApiError) || error.status === 401 || error.platformUnavailable) report(error);
    } finally {
      $("#send-button").disabled = false;
    }
  }

  for (const action of ["restart", "pause", "resume", "hibernate"]) on(`#action-${action}`, "click", act);
  on("#action-delete", "click", askDelete);
  on("#delete-cancel", "click", () => show($("#delete-confirm"), false));
  on("#delete-confirm-button", "click", confirmDelete);
  on("#send-form", "submit", send);

  const stops = [
    every(REFRESH_MS, async () => {
      await refreshWorkspace();
      if (!left) await Promise.all([activity.poll(), structural.poll()]);
    }, report),
    every(SECTIONS_REFRESH_MS, async () => {
      await refreshSections();
      $("#workspace-view").dataset.sectionsChecked = "true"; // which sections exist is known now
    }, report),
  ];
  return () => {
    left = true;
    for (const stop of stops) stop();
    listeners.abort();
  };
}
