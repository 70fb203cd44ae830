// Small DOM and formatting helpers. Every piece of API data reaches the page as text (never as
// HTML): agents write messages, names and errors, and none of it may run in the console.

export const $ = (selector, root = document) => root.querySelector(selector);

// el("li", {class: "row", dataset: {id}}, "text", child) — attributes, then children.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function show(node, visible) {
  node.hidden = !visible;
}

const STATUSES = [
  "provisioning", "online", "offline", "degraded", "failed", "removed", "paused", "hibernating", "hibernated",
  "awaiting_agent",
];

export function statusClass(status) {
  return STATUSES.includes(status) ? `status status-${status}` : "status status-unknown";
}

export function statusBadge(status) {
  return el("span", { class: statusClass(status), text: status || "unknown" });
}

export function age(iso, now = Date.now()) {
  if (!iso) return null;
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

export function heartbeatText(iso) {
  const since = age(iso);
  return since === null ? "no heartbeat" : `heartbeat ${since} ago`;
}

export function isStale(iso, seconds = 90) {
  return !iso || Date.now() - Date.parse(iso) > seconds * 1000;
}

export function clock(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString();
}

export function dateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function partsText(parts) {
  if (!Array.isArray(parts)) return "";
  return parts
    .map((part) => (part && typeof part.text === "string" ? part.text : part && part.file ? `[file ${part.file.name || ""}]` : ""))
    .filter(Boolean)
    .join("\n");
}

// The text a human reads in an A2A payload or reply: a message's parts, a task's artifacts or
// status message, a JSON-RPC error, or a plain string result (notify).
export function messageText(body) {
  if (body === null || body === undefined) return "";
  if (typeof body === "string") return body;
  if (typeof body !== "object") return String(body);
  if (body.error) return typeof body.error === "string" ? body.error : body.error.message || "";
  const result = "result" in body ? body.result : body;
  if (typeof result === "string") return result;
  if (!result || typeof result !== "object") return "";
  const direct = partsText(result.parts);
  if (direct) return direct;
  if (result.message) return messageText(result.message);
  const artifacts = Array.isArray(result.artifacts) ? result.artifacts.map((a) => partsText(a && a.parts)) : [];
  const fromArtifacts = artifacts.filter(Boolean).join("\n");
  if (fromArtifacts) return fromArtifacts;
  if (result.status && result.status.message) return messageText(result.status.message);
  if (result.params && result.params.message) return messageText(result.params.message);
  return "";
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, or not a secure context): copy through a selection.
    const area = el("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}
