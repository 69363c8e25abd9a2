// Copy That's page: sign in (surviving reloads through the server's cookie), browse projects
// and extractions, extract palettes from dropped, pasted, picked or linked images, check drift.

import * as api from "./api.js";
import * as check from "./check.js";
import { $, formatDate, h, say } from "./dom.js";
import { Progress, precheck, takeImage, wireDropzone } from "./intake.js";
import * as palette from "./palette.js";

const state = {
  projects: [],
  project: null,
  sessions: [],
  sessionId: "",
  // blob: URLs of images extracted in this tab, by extraction, released at sign-out.
  previews: new Map(),
  // Bumped whenever the view changes project or extraction: late answers for an earlier
  // view are dropped.
  view: 0,
};
let progress = null;

function show(which) {
  document.body.classList.remove("booting");
  $("boot-status").hidden = true;
  $("auth-view").hidden = which !== "auth";
  $("app-view").hidden = which !== "app";
  $("account").hidden = which !== "app";
}

function quiet(err) {
  return api.isQuiet(err);
}

// ---- Signing in and out -------------------------------------------------------------

async function enter(email) {
  $("who").textContent = email;
  show("app");
  await loadProjects();
}

function leave(message) {
  state.projects = [];
  state.project = null;
  state.sessions = [];
  state.sessionId = "";
  state.view += 1;
  for (const url of state.previews.values()) URL.revokeObjectURL(url);
  state.previews.clear();
  progress?.controller?.abort();
  $("who").textContent = "";
  $("project-list").replaceChildren();
  $("session-select").replaceChildren();
  $("url-form").reset();
  $("new-project-form").reset();
  $("auth-form").reset();
  for (const id of ["intake-status", "project-status"]) say($(id), "");
  showPreview(null);
  palette.clear();
  check.setProject(null);
  selectTab("palette");
  show("auth");
  say($("auth-status"), message || "", message ? "ok" : "");
  $("email").focus();
}

function credentials() {
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    say($("auth-status"), "Enter your email and a password.", "error");
    return null;
  }
  return { email, password };
}

async function signIn(event) {
  event.preventDefault();
  const given = credentials();
  if (!given) return;
  say($("auth-status"), "Signing in…");
  try {
    await api.signIn(given.email, given.password);
    $("auth-form").reset();
    say($("auth-status"), "");
    await enter(given.email);
  } catch (err) {
    if (!quiet(err)) say($("auth-status"), err.message, "error");
  }
}

async function register() {
  const given = credentials();
  if (!given) return;
  say($("auth-status"), "Creating your account…");
  try {
    await api.register(given.email, given.password);
    await api.signIn(given.email, given.password);
    $("auth-form").reset();
    say($("auth-status"), "");
    await enter(given.email);
  } catch (err) {
    if (!quiet(err)) say($("auth-status"), err.message, "error");
  }
}

async function signOut() {
  try {
    await api.signOut();
    leave("Signed out.");
  } catch (_) {
    leave("Signed out on this device. The server could not be reached to end the session.");
  }
}

// ---- Projects and extractions -------------------------------------------------------

async function loadProjects(selectId) {
  try {
    const { items } = await api.json("/projects?limit=100");
    state.projects = items;
    renderProjects();
    const next = items.find((p) => p.id === (selectId || state.project?.id)) || items[0] || null;
    if (next) await openProject(next.id);
    else showNoProject();
  } catch (err) {
    if (!quiet(err)) say($("project-status"), err.message, "error");
  }
}

function renderProjects() {
  $("no-projects").hidden = state.projects.length > 0;
  $("project-list").replaceChildren(
    ...state.projects.map((p) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "project-item",
            "aria-current": state.project?.id === p.id ? "true" : null,
            onclick: () => openProject(p.id),
          },
          h("span", { class: "project-name", text: p.name }),
          h("span", { class: "project-date", text: formatDate(p.updated_at) }),
        ),
      ),
    ),
  );
}

function showNoProject() {
  state.project = null;
  $("project-title").textContent = "Your first palette";
  $("project-meta").textContent = "Drop an image below: a project is made for it.";
  $("session-select").replaceChildren();
  palette.clear();
  check.setProject(null);
}

// Opens a project; `sessionId` and `colors` (an extraction just made) skip a round trip.
async function openProject(id, sessionId = "", colors = null) {
  const project = state.projects.find((p) => p.id === id);
  if (!project) return;
  state.project = project;
  const mine = ++state.view;
  renderProjects();
  $("project-title").textContent = project.name;
  $("project-meta").textContent = project.description || `Created ${formatDate(project.created_at)}`;
  check.setProject(project.id);
  try {
    const { items } = await api.json(`/projects/${project.id}/sessions?limit=100`);
    if (mine !== state.view) return;
    state.sessions = items;
    renderSessions();
    const known = state.sessions.some((s) => s.id === sessionId);
    await openSession(known ? sessionId : "", known ? colors : null);
  } catch (err) {
    if (!quiet(err) && mine === state.view) say($("project-status"), err.message, "error");
  }
}

function sessionLabel(s) {
  const image = s.image ? `${s.image.width}×${s.image.height} ${s.image.format.toUpperCase()}` : s.source;
  return [formatDate(s.created_at), s.name, image].filter(Boolean).join(" · ");
}

function renderSessions() {
  const select = $("session-select");
  const all = h("option", { value: "", text: `All extractions (${state.sessions.length})` });
  select.replaceChildren(all, ...state.sessions.map((s) => h("option", { value: s.id, text: sessionLabel(s) })));
  select.value = state.sessionId;
}

// Every colour of the open project, or of one extraction, page by page.
async function fetchColors(projectId, sessionId) {
  const colors = [];
  for (let offset = 0; offset < 2000; offset += 100) {
    const params = new URLSearchParams({ limit: "100", offset: String(offset) });
    if (sessionId) params.set("session_id", sessionId);
    const { items, total } = await api.json(`/projects/${projectId}/colors?${params}`);
    colors.push(...items);
    if (colors.length >= total || items.length === 0) break;
  }
  return colors;
}

async function openSession(sessionId, known = null) {
  if (!state.project) return;
  state.sessionId = sessionId;
  $("session-select").value = sessionId;
  const mine = ++state.view;
  try {
    const colors = known || (await fetchColors(state.project.id, sessionId));
    if (mine !== state.view) return;
    const session = state.sessions.find((s) => s.id === sessionId);
    showPreview(sessionId ? state.previews.get(sessionId) : null, session);
    palette.render({
      projectId: state.project.id,
      sessionId,
      colors,
      caption: session ? `extracted ${sessionLabel(session)}` : colors.length ? "every extraction of the project" : "",
    });
  } catch (err) {
    if (!quiet(err) && mine === state.view) say($("swatch-status"), err.message, "error");
  }
}

async function reloadColors() {
  await openSession(state.sessionId);
}

async function createProject(name) {
  const project = await api.json("/projects", { method: "POST", json: { name } });
  state.projects = [project, ...state.projects.filter((p) => p.id !== project.id)];
  return project;
}

async function onNewProject(event) {
  event.preventDefault();
  const name = $("new-project-name").value.trim();
  if (!name) {
    say($("project-status"), "Give the project a name.", "error");
    return;
  }
  try {
    const project = await createProject(name);
    $("new-project-name").value = "";
    say($("project-status"), `Created ${project.name}.`, "ok");
    await openProject(project.id);
  } catch (err) {
    if (!quiet(err)) say($("project-status"), err.message, "error");
  }
}

function showPreview(url, session) {
  const img = $("preview");
  if (url) {
    img.src = url;
    img.alt = "The image this palette was extracted from";
    $("preview-caption").textContent = session?.image ? `${session.image.width}×${session.image.height}` : "";
  } else {
    img.removeAttribute("src");
  }
  $("preview-figure").hidden = !url;
}

// ---- Extraction ---------------------------------------------------------------------

function projectNameFor(taken) {
  if (taken.file?.name) return taken.file.name.replace(/\.[a-z0-9]+$/i, "").slice(0, 80) || "Untitled";
  if (taken.url) {
    try {
      return new URL(taken.url).hostname || "Untitled";
    } catch (_) {
      return "Untitled";
    }
  }
  return "Pasted image";
}

async function extract(taken) {
  const status = $("intake-status");
  if (!taken) {
    say(status, "That is not an image file. Drop a PNG, JPEG, WebP or GIF.", "error");
    return;
  }
  if (progress.busy) {
    say(status, "An extraction is already running: wait for it or cancel it.", "error");
    return;
  }
  if (taken.file) {
    const problem = precheck(taken.file);
    if (problem) {
      say(status, problem, "error");
      return;
    }
  }
  const epoch = api.currentEpoch();
  const signal = progress.begin(taken.file ? `Uploading ${taken.file.name || "the image"}…` : "Fetching the image…");
  try {
    let project = state.project;
    if (!project) {
      project = await createProject(projectNameFor(taken));
      renderProjects();
    }
    const maxColors = $("max-colors").value.trim();
    const onProgress = (fraction, phase) => progress.update(fraction, phase, "Finding the palette…");
    let response;
    if (taken.file) {
      const form = new FormData();
      form.append("project_id", project.id);
      if (maxColors) form.append("max_colors", maxColors);
      form.append("image", taken.file, taken.file.name || "pasted.png");
      response = await api.upload("/colors/extract", form, { signal, onProgress });
    } else {
      const body = { project_id: project.id, image_url: taken.url };
      if (maxColors) body.max_colors = Number(maxColors);
      response = await api.upload("/colors/extract", JSON.stringify(body), {
        signal,
        onProgress,
        contentType: "application/json",
      });
    }
    const result = await response.json();
    if (epoch !== api.currentEpoch()) return;
    if (taken.file) state.previews.set(result.session_id, URL.createObjectURL(taken.file));
    if (taken.url) $("url-form").reset();
    if (state.project?.id !== project.id) {
      state.project = project;
      renderProjects();
    }
    await openProject(project.id, result.session_id, result.colors);
    const { width, height, format } = result.image;
    say(
      status,
      `Found ${result.colors.length} colour${result.colors.length === 1 ? "" : "s"} in a ${width}×${height} ${format.toUpperCase()} image.`,
      "ok",
    );
  } catch (err) {
    if (err?.name === "AbortError") say(status, "Upload cancelled. Nothing was saved.");
    else if (!quiet(err)) say(status, err.message, "error");
  } finally {
    progress.end();
  }
}

// ---- Tabs, drops anywhere, paste ----------------------------------------------------

function selectTab(name) {
  for (const tab of ["palette", "check"]) {
    const on = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(on));
    $(`tab-${tab}`).tabIndex = on ? 0 : -1;
    $(`panel-${tab}`).hidden = !on;
  }
}

function activeTab() {
  return $("panel-check").hidden ? "palette" : "check";
}

function wireTabs() {
  const tabs = [$("tab-palette"), $("tab-check")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const target = tabs[(next + tabs.length) % tabs.length];
      selectTab(target.id.slice(4));
      target.focus();
    });
  }
}

function route(taken) {
  if ($("app-view").hidden) return;
  if (activeTab() === "check") check.take(taken);
  else extract(taken);
}

function wireGlobalIntake() {
  // A file dropped outside the drop zones must not replace the page with the image.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    route(takeImage(event.dataTransfer));
  });
  document.addEventListener("paste", (event) => {
    if ($("app-view").hidden) return;
    const data = event.clipboardData;
    const file = [...(data?.files || [])].find((f) => f.type.startsWith("image/"));
    const editing = event.target.closest?.("input, textarea, select");
    if (file) {
      event.preventDefault();
      route({ file });
      return;
    }
    const text = (data?.getData("text/plain") || "").trim();
    if (!editing && /^https?:\/\/\S+$/i.test(text) && activeTab() === "palette") {
      event.preventDefault();
      $("image-url").value = text;
      extract({ url: text });
    }
  });
}

// ---- Start --------------------------------------------------------------------------

async function boot() {
  api.onSessionEnded((message) => leave(message));
  palette.init({ reload: reloadColors });
  check.init();
  progress = new Progress({
    box: $("upload-progress"),
    bar: $("progress-bar"),
    text: $("progress-text"),
    cancel: $("cancel-upload"),
    status: $("intake-status"),
  });
  wireDropzone($("dropzone"), $("file-input"), extract);
  wireGlobalIntake();
  wireTabs();
  $("auth-form").addEventListener("submit", signIn);
  $("register").addEventListener("click", register);
  $("signout").addEventListener("click", signOut);
  $("new-project-form").addEventListener("submit", onNewProject);
  $("session-select").addEventListener("change", () => openSession($("session-select").value));
  $("url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = $("image-url").value.trim();
    if (!/^https?:\/\//i.test(url)) {
      say($("intake-status"), "Enter an http:// or https:// address of an image.", "error");
      return;
    }
    extract({ url });
  });

  try {
    const me = await api.resume();
    if (me) {
      await enter(me.email);
      return;
    }
  } catch (err) {
    if (!quiet(err)) say($("auth-status"), err.message, "error");
  }
  show("auth");
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
