// Copy That's page: sign in, extract a palette from an image, curate, export.
// Tokens stay in this tab's memory only; every call goes to the same-origin API.
"use strict";

const api = "/api/v1";
let session = null; // { access, refresh, email }
// Bumped at every sign-out: an answer that arrives for an earlier epoch belongs to the
// previous user and is dropped instead of being drawn on the page.
let epoch = 0;
let previewUrl = null; // blob: URL of the image shown, revoked when replaced or cleared

const $ = (id) => document.getElementById(id);

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function call(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (session) headers.set("Authorization", `Bearer ${session.access}`);
  let response = await fetch(api + path, { ...options, headers });
  if (response.status === 401 && session && (await renew())) {
    headers.set("Authorization", `Bearer ${session.access}`);
    response = await fetch(api + path, { ...options, headers });
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.errors?.length
        ? problem.errors.map((e) => `${e.field}: ${e.message}`).join("; ")
        : problem.detail;
    } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

async function renew() {
  const mine = epoch;
  const response = await fetch(`${api}/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (mine !== epoch) return false; // signed out meanwhile: never bring the session back
  if (!response.ok) {
    signOut();
    say("Your session has ended; sign in again.", true);
    return false;
  }
  const tokens = await response.json();
  if (mine !== epoch) return false;
  session = { ...session, access: tokens.access_token, refresh: tokens.refresh_token };
  return true;
}

async function signIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  const response = await call("/auth/token", { method: "POST", body: form });
  const tokens = await response.json();
  session = { access: tokens.access_token, refresh: tokens.refresh_token, email };
  $("who").textContent = email;
  $("whoami").hidden = false;
  $("auth").hidden = true;
  $("work").hidden = false;
  await loadProjects();
  say("Signed in.");
}

// Forgets everything of the user who was signed in: tokens, every field and list their
// data filled, the preview image and its blob URL, and any message, so whoever uses this
// tab next sees none of it. Answers still in flight are dropped (see `epoch`).
function signOut() {
  session = null;
  epoch += 1;
  $("who").textContent = "";
  $("whoami").hidden = true;
  $("auth-form").reset();
  $("auth").hidden = false;
  $("work").hidden = true;
  $("extract-form").reset();
  $("project").replaceChildren();
  showPreview(null);
  $("swatches").replaceChildren();
  $("export-output").textContent = "";
  $("exports").hidden = true;
  say("");
}

// Shows `file` as the preview (or nothing), releasing the previous image's blob URL.
function showPreview(file) {
  const preview = $("preview");
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = file ? URL.createObjectURL(file) : null;
  if (previewUrl) preview.src = previewUrl;
  else preview.removeAttribute("src");
  preview.hidden = !previewUrl;
}

async function loadProjects(selectId) {
  const mine = epoch;
  const response = await call("/projects?limit=100");
  const { items } = await response.json();
  if (mine !== epoch) return;
  const select = $("project");
  select.replaceChildren(
    ...items.map((p) => {
      const option = document.createElement("option");
      option.value = p.id;
      option.textContent = p.name;
      return option;
    }),
  );
  if (selectId) select.value = selectId;
}

async function projectId() {
  const name = $("new-project").value.trim();
  if (name) {
    const response = await call("/projects", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const project = await response.json();
    $("new-project").value = "";
    await loadProjects(project.id);
    return project.id;
  }
  if (!$("project").value) throw new Error("create a project first");
  return $("project").value;
}

const ROLES = ["", "primary", "secondary", "accent", "success", "error", "warning", "info", "background", "surface", "text"];

function swatch(color) {
  const item = document.createElement("li");
  const chip = document.createElement("div");
  chip.className = "chip";
  chip.style.backgroundColor = color.hex; // CSSOM, allowed under the strict CSP
  const meta = document.createElement("div");
  meta.className = "meta";
  const hex = document.createElement("code");
  hex.textContent = color.hex;
  const name = document.createElement("span");
  name.textContent = `${color.name} · ${(color.share * 100).toFixed(1)}%`;
  const contrast = document.createElement("span");
  contrast.textContent = `on white ${color.contrast_white.toFixed(2)} · on black ${color.contrast_black.toFixed(2)}`;
  const role = document.createElement("select");
  for (const r of ROLES) {
    const option = document.createElement("option");
    option.value = r;
    option.textContent = r || "(no role)";
    role.append(option);
  }
  role.value = color.role || "";
  role.addEventListener("change", async () => {
    const mine = epoch;
    try {
      await call(`/colors/${color.id}`, {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ role: role.value || null }),
      });
      if (mine === epoch) say(`${color.hex} is now ${role.value || "without a role"}.`);
    } catch (err) {
      if (mine === epoch) say(err.message, true);
    }
  });
  meta.append(hex, name, contrast, role);
  item.append(chip, meta);
  return item;
}

async function extract(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return;
  const mine = epoch;
  say("Extracting…");
  try {
    const form = new FormData();
    form.append("project_id", await projectId());
    if (mine !== epoch) return;
    form.append("max_colors", $("max-colors").value);
    form.append("image", file);
    const started = performance.now();
    const response = await call("/colors/extract", { method: "POST", body: form });
    const result = await response.json();
    if (mine !== epoch) return;
    showPreview(file);
    $("swatches").replaceChildren(...result.colors.map(swatch));
    $("exports").hidden = false;
    const ms = Math.round(performance.now() - started);
    say(`${result.colors.length} colours from a ${result.image.width}×${result.image.height} ${result.image.format} in ${ms} ms.`);
  } catch (err) {
    if (mine === epoch) say(err.message, true);
  }
}

async function exportAs(format) {
  const mine = epoch;
  try {
    const response = await call(`/projects/${$("project").value}/export?format=${encodeURIComponent(format)}`);
    const text = await response.text();
    if (mine === epoch) $("export-output").textContent = text;
  } catch (err) {
    if (mine === epoch) say(err.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signIn($("email").value, $("password").value);
    } catch (err) {
      say(err.message, true);
    }
  });
  $("register").addEventListener("click", async () => {
    try {
      await call("/auth/register", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("email").value, password: $("password").value }),
      });
      await signIn($("email").value, $("password").value);
    } catch (err) {
      say(err.message, true);
    }
  });
  $("signout").addEventListener("click", async () => {
    if (session) {
      try {
        await call("/auth/logout", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: session.refresh }),
        });
      } catch (_) { /* signing out locally regardless */ }
    }
    signOut();
    say("Signed out.");
  });
  $("extract-form").addEventListener("submit", extract);
  for (const button of document.querySelectorAll("#exports button")) {
    button.addEventListener("click", () => exportAs(button.dataset.format));
  }
});
