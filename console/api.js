// The platform's JSON API as the console uses it: the bearer from this browser session, errors as
// readable messages, and the one rule that tells "this API does not exist yet" from a real 404.

const TOKEN_KEY = "molecule.console.token";

// The token lives in sessionStorage only: it goes when the tab closes, and no cookie carries it.
// An empty string is a session without a token (a development stack that fails open).
export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }

  // The datastore outage (SPEC §4: 503 code platform_unavailable), a gateway without a body, or
  // no answer at all. A 503 that explains itself (an agent restarting, a workspace waking) is not.
  get platformUnavailable() {
    if (this.status === 0) return true;
    if (this.status !== 503) return false;
    return !this.body || this.body.code === "platform_unavailable" || !this.body.error;
  }

  // A route that is not deployed answers API Gateway's {"message":"Not Found"} (or a function's
  // own {"error":"not found"}); a missing workspace says "workspace not found".
  get routeMissing() {
    if (this.status !== 404) return false;
    return !this.body || typeof this.body !== "object" || !this.body.error || this.body.error === "not found";
  }
}

// Listeners told when the platform answers (any status): the console clears its outage banner.
const reachableListeners = [];
export function onReachable(listener) {
  reachableListeners.push(listener);
}

function errorText(status, body, text) {
  if (body && typeof body === "object") {
    if (typeof body.error === "string") return body.error;
    if (body.error && typeof body.error.message === "string") return body.error.message; // JSON-RPC
    if (typeof body.message === "string") return body.message;
  }
  const snippet = (text || "").trim().slice(0, 200);
  return snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`;
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "platform unavailable — retrying", null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!(response.status === 503 && (!data || data.code === "platform_unavailable"))) {
    for (const listener of reachableListeners) listener();
  }
  if (!response.ok) throw new ApiError(response.status, errorText(response.status, data, text), data);
  return { status: response.status, data };
}

export const get = (path) => request("GET", path).then((answer) => answer.data);
export const post = (path, body) => request("POST", path, body);
export const del = (path) => request("DELETE", path);

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Follows a cursor API (activity, structural events): the first page newest first, then every
// row strictly after the newest one seen, oldest first. 410 means the cursor is gone (pruned,
// or the workspace's log was reset): start again without it.
export class CursorFeed {
  constructor(path, { onRows, onReset, limit = 50 }) {
    this.path = path;
    this.onRows = onRows;
    this.onReset = onReset;
    this.limit = limit;
    this.cursor = null;
    this.seen = new Set();
    this.running = null;
  }

  // Overlapping calls (the timer, and a refresh right after sending) share one request, so
  // the cursor only ever moves forward.
  poll() {
    if (!this.running) this.running = this.fetchNext().finally(() => (this.running = null));
    return this.running;
  }

  async fetchNext() {
    let rows;
    if (this.cursor === null) {
      rows = (await get(this.path + query({ limit: this.limit }))).slice().reverse();
    } else {
      try {
        rows = await get(this.path + query({ since_id: this.cursor, limit: 500 }));
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 410) throw error;
        this.cursor = null;
        this.seen.clear();
        this.onReset();
        return this.fetchNext();
      }
    }
    const fresh = rows.filter((row) => !this.seen.has(row.id));
    for (const row of fresh) this.seen.add(row.id);
    if (rows.length) this.cursor = rows[rows.length - 1].id;
    if (fresh.length) this.onRows(fresh);
  }
}

// Runs `tick` now and then every `ms` after it finishes (never two at once); returns stop().
// A failing tick is reported and polling goes on: the platform may come back.
export function every(ms, tick, onError) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try {
      await tick();
    } catch (error) {
      if (!stopped) onError(error);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
