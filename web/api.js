// The page's side of /api/v1: the access token lives in this module's memory only, the
// refresh token in the server's HttpOnly cookie; one refresh at a time; errors in words.

const API = "/api/v1";
// Asks the server for the cookie session and proves a same-origin script sent the request.
const COOKIE_SESSION = { "X-Copythat-Session": "cookie" };
// Not a credential: only spares a visitor who never signed in a refresh that must fail.
const HINT = "copythat.hasSession";
const NETWORK_TROUBLE = "The server cannot be reached. Check your connection and try again.";

let access = null;
let renewTimer = null;
let refreshing = null;
// Bumped at every sign-out: an answer that arrives for an earlier epoch belongs to the
// previous user and is dropped instead of being drawn on the page.
let epoch = 0;
let onEnded = () => {};

export class ApiError extends Error {
  constructor(message, status, problem = null) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

// An answer meant for a session that has ended since: callers drop it silently.
export class Stale extends Error {}

export function isQuiet(err) {
  return err instanceof Stale || err?.name === "AbortError";
}

export function currentEpoch() {
  return epoch;
}

export function onSessionEnded(callback) {
  onEnded = callback;
}

const FIELD_LABELS = {
  body: "The request",
  image: "The image",
  image_url: "The image URL",
  image_base64: "The image",
  max_colors: "Colours",
  name: "The name",
  role: "The role",
  position: "The position",
  format: "The format",
  email: "Email",
  password: "Password",
  session_id: "The extraction",
  project_id: "The project",
};

function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return "";
  return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
}

// The words to show for a failed response: problem+json `detail` and each `errors[]` entry;
// a 429 says how long to wait, from `Retry-After`.
export async function problemOf(response) {
  let problem = null;
  try {
    if ((response.headers.get("content-type") || "").includes("json")) problem = await response.json();
  } catch (_) {
    problem = null;
  }
  let message;
  if (response.status === 429) {
    const wait = parseInt(response.headers.get("retry-after") || "", 10);
    message = Number.isFinite(wait)
      ? `Too many requests. Try again in ${wait} second${wait === 1 ? "" : "s"}.`
      : "Too many requests. Wait a moment and try again.";
  } else if (problem?.errors?.length) {
    message = problem.errors
      .map((e) => `${FIELD_LABELS[e.field] || e.field}: ${e.message}`)
      .map(sentence)
      .join(" ");
  } else {
    message = sentence(problem?.detail) || `The request failed (${response.status}).`;
  }
  return new ApiError(message, response.status, problem);
}

function schedule(expiresIn) {
  clearTimeout(renewTimer);
  // Renew a minute early, so a working user never meets an expired token.
  const ms = Math.max(30, (Number(expiresIn) || 900) - 60) * 1000;
  renewTimer = setTimeout(() => renew(), ms);
}

function adopt(tokens) {
  access = tokens.access_token;
  schedule(tokens.expires_in);
  try {
    localStorage.setItem(HINT, "1");
  } catch (_) {
    /* storage may be off; reloads then need a sign-in */
  }
}

// Drops everything this tab knows about the session.
export function forget() {
  access = null;
  epoch += 1;
  clearTimeout(renewTimer);
  try {
    localStorage.removeItem(HINT);
  } catch (_) {
    /* nothing stored */
  }
}

// Tabs of one browser share the cookie: a lock makes their refreshes take turns, so none
// presents a token another tab has just rotated (which the server would treat as theft).
function oneAtATime(task) {
  if (navigator.locks?.request) return navigator.locks.request("copythat-refresh", task);
  return task();
}

// Exchanges the cookie for a fresh access token. Concurrent callers share one attempt.
export function renew() {
  if (!refreshing) {
    const mine = epoch;
    refreshing = oneAtATime(() =>
      fetch(`${API}/auth/refresh`, { method: "POST", headers: COOKIE_SESSION, credentials: "same-origin" }),
    )
      .then(async (response) => {
        if (mine !== epoch) return false;
        if (!response.ok) {
          forget();
          onEnded("Your session has ended. Sign in again.");
          return false;
        }
        const tokens = await response.json();
        if (mine !== epoch) return false;
        adopt(tokens);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// After a 401: a request sent with a token that has been replaced since (another request's
// refresh finished first) is only sent again; otherwise the token is renewed.
function renewAfter(sentWith) {
  if (access && access !== sentWith) return Promise.resolve(true);
  return renew();
}

export function mayHaveSession() {
  try {
    return localStorage.getItem(HINT) === "1";
  } catch (_) {
    return false;
  }
}

// On load: a cookie from an earlier visit becomes an access token and the account.
export async function resume() {
  if (!mayHaveSession() || !(await renew())) return null;
  const response = await request("/auth/me");
  return response.json();
}

export async function signIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  let response;
  try {
    response = await fetch(`${API}/auth/token`, { method: "POST", headers: COOKIE_SESSION, body: form });
  } catch (_) {
    throw new ApiError(NETWORK_TROUBLE, 0);
  }
  if (!response.ok) throw await problemOf(response);
  adopt(await response.json());
}

export async function register(email, password) {
  await request("/auth/register", { method: "POST", json: { email, password } });
}

// Revokes the cookie's session on the server (which also clears the cookie), then locally.
export async function signOut() {
  try {
    if (access) await request("/auth/logout", { method: "POST", headers: COOKIE_SESSION });
  } finally {
    forget();
  }
}

function withAuth(headers) {
  const h = new Headers(headers || {});
  if (access) h.set("Authorization", `Bearer ${access}`);
  return h;
}

// A same-origin API call with the bearer token; a 401 renews once and retries.
export async function request(path, options = {}) {
  const mine = epoch;
  let sentWith = null;
  const send = () => {
    sentWith = access;
    const headers = withAuth(options.headers);
    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }
    return fetch(API + path, { method: options.method || "GET", headers, body, signal: options.signal });
  };
  let response;
  try {
    response = await send();
    if (response.status === 401 && access && (await renewAfter(sentWith))) response = await send();
  } catch (err) {
    if (isQuiet(err)) throw err;
    throw new ApiError(NETWORK_TROUBLE, 0);
  }
  if (mine !== epoch) throw new Stale();
  if (!response.ok) throw await problemOf(response);
  return response;
}

export async function json(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

// A POST whose upload reports progress (XMLHttpRequest: fetch cannot report upload
// progress); `signal` cancels it. Resolves to a fetch Response.
export async function upload(path, body, { onProgress, signal, contentType } = {}) {
  const mine = epoch;
  let sentWith = null;
  const once = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", API + path);
      sentWith = access;
      if (access) xhr.setRequestHeader("Authorization", `Bearer ${access}`);
      if (contentType) xhr.setRequestHeader("Content-Type", contentType);
      xhr.upload.addEventListener("progress", (e) => {
        if (onProgress) onProgress(e.lengthComputable ? e.loaded / e.total : null, "upload");
      });
      xhr.upload.addEventListener("load", () => onProgress && onProgress(1, "processing"));
      xhr.addEventListener("load", () => {
        const headers = new Headers();
        for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
          const at = line.indexOf(":");
          if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        const empty = [204, 205, 304].includes(xhr.status);
        resolve(new Response(empty ? null : xhr.responseText, { status: xhr.status, headers }));
      });
      xhr.addEventListener("error", () => reject(new ApiError(NETWORK_TROUBLE, 0)));
      xhr.addEventListener("abort", () => reject(new DOMException("cancelled", "AbortError")));
      if (signal) {
        if (signal.aborted) {
          reject(new DOMException("cancelled", "AbortError"));
          return;
        }
        signal.addEventListener("abort", () => xhr.abort(), { once: true });
      }
      xhr.send(body);
    });
  let response = await once();
  if (response.status === 401 && access && (await renewAfter(sentWith))) response = await once();
  if (mine !== epoch) throw new Stale();
  if (!response.ok) throw await problemOf(response);
  return response;
}

// Fetches a file with the bearer token; returns its blob and the server's file name.
export async function download(path) {
  const response = await request(path);
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : null };
}
