// The palette view: swatches a designer works with (copy, rename, role, reorder, delete,
// contrast badges), the share strip, the contrast grid between colours, and export.

import * as api from "./api.js";
import { contrast, inkOn, level, levelOfFlags, oklchText, ratioText, rgbText } from "./color.js";
import { $, copyText, h, say } from "./dom.js";

export const ROLES = ["primary", "secondary", "accent", "success", "error", "warning", "info", "background", "surface", "text"];
const GRID_MAX = 12;

const EXTENSIONS = {
  css: "css",
  scss: "scss",
  tailwind: "js",
  tailwind4: "css",
  dtcg: "tokens.json",
  "dtcg-hex": "tokens.json",
  "style-dictionary": "json",
};

// What is on screen: the project, the extraction (or "" for all of them) and its colours.
const view = { projectId: null, sessionId: "", colors: [], caption: "", reload: async () => {} };
let focusAfter = null; // { id, selector } to restore focus after a re-render
let exportTimer = null;
let exportSeq = 0;
// The last export fetched ({ format, blob, filename }), dropped whenever the palette changes;
// it is fetched only once the Export card scrolls into view, to spare the rate limit.
let exportCache = null;
let exportVisible = false;

let toastTimer = null;

// Swatch actions answer in a toast pinned to the bottom of the window, so the answer is on
// screen wherever the swatch is; it stays longer for an error.
function status(text, kind) {
  say($("swatch-status"), text, kind);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => say($("swatch-status"), ""), kind === "error" ? 10000 : 4000);
}

function report(err) {
  if (!api.isQuiet(err)) status(err.message, "error");
}

export function init({ reload }) {
  view.reload = reload;
  $("export-format").addEventListener("change", () => refreshExport());
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => {
      exportVisible = entries.some((e) => e.isIntersecting);
      if (exportVisible) refreshExport();
    }, { rootMargin: "200px" }).observe($("export-card"));
  } else {
    exportVisible = true;
  }
  $("export-download").addEventListener("click", downloadExport);
  $("export-copy").addEventListener("click", copyExport);
}

export function clear() {
  view.projectId = null;
  view.sessionId = "";
  view.colors = [];
  $("swatches").replaceChildren();
  $("strip").replaceChildren();
  $("strip").setAttribute("aria-label", "No colours yet");
  $("palette-summary").textContent = "";
  $("contrast-grid").replaceChildren();
  $("contrast-card").hidden = true;
  $("export-card").hidden = true;
  $("export-preview").textContent = "";
  exportCache = null;
  $("palette-empty").hidden = false;
  $("bg-legend").hidden = true;
  for (const id of ["swatch-status", "export-status"]) say($(id), "");
}

// The colour the "on background" badges use: the one given the background role, else the
// colour covering most of the image.
function background(colors) {
  const byRole = colors.find((c) => c.role === "background");
  if (byRole) return { color: byRole, why: "its background role" };
  const largest = colors.reduce((a, b) => (b.share > a.share ? b : a), colors[0]);
  return { color: largest, why: "the largest area" };
}

export function render({ projectId, sessionId, colors, caption }) {
  view.projectId = projectId;
  view.sessionId = sessionId;
  view.colors = colors;
  if (caption !== null) view.caption = caption;
  const empty = colors.length === 0;
  $("palette-empty").hidden = !empty;
  $("contrast-card").hidden = empty || colors.length < 2;
  $("export-card").hidden = empty;
  renderStrip(colors, view.caption);
  const bg = empty ? null : background(colors);
  $("bg-legend").hidden = empty;
  if (bg) {
    $("bg-legend").textContent =
      `Badges rate text in each colour on white, on black and on the background, ${bg.color.name} ${bg.color.hex} ` +
      `(chosen by ${bg.why}; give another colour the background role to change it).`;
  }
  $("swatches").replaceChildren(...colors.map((c, i) => swatch(c, i, bg)));
  renderGrid(colors);
  if (focusAfter) {
    const target = document.querySelector(`[data-id="${focusAfter.id}"] ${focusAfter.selector}`);
    (target && !target.disabled ? target : $("swatches")).focus?.();
    focusAfter = null;
  }
  exportCache = null;
  if (!empty) refreshExport();
}

function renderStrip(colors, caption) {
  const strip = $("strip");
  strip.replaceChildren(
    ...colors.map((c) => {
      const part = h("span", { class: "strip-part" });
      part.style.backgroundColor = c.hex; // CSSOM, allowed under the strict CSP
      part.style.flexGrow = String(Math.max(c.share, 0.004));
      return part;
    }),
  );
  const described = colors.map((c) => `${c.name} ${c.hex} ${(c.share * 100).toFixed(1)}%`).join(", ");
  strip.setAttribute("aria-label", colors.length ? `Colour shares: ${described}` : "No colours yet");
  const parts = [];
  if (colors.length) parts.push(`${colors.length} colour${colors.length === 1 ? "" : "s"}`);
  if (caption) parts.push(caption);
  $("palette-summary").textContent = parts.join(" · ");
}

function badge(where, ratio, flags, tile) {
  const lvl = flags ? levelOfFlags(flags, ratio) : level(ratio);
  const sample = h("span", { class: "sample", "aria-hidden": "true" });
  sample.style.backgroundColor = tile.bg;
  sample.style.setProperty("--fg", tile.fg);
  return h(
    "li",
    { class: `badge ${lvl.pass ? "pass" : "fail"}` },
    sample,
    h("span", { class: "visually-hidden", text: `On ${where}: ` }),
    h("span", { class: "badge-level", text: lvl.label }),
    h("span", { class: "badge-ratio", text: ratioText(ratio) }),
  );
}

// `shown` is the compact value on the card; `value` (what is copied) is the CSS spelling.
function codeButton(label, value, hex, shown = value) {
  return h(
    "button",
    { type: "button", class: "code", title: `Copy ${label}`, onclick: () => copy(value, `${label} of ${hex}`) },
    h("span", { class: "visually-hidden", text: "Copy " }),
    h("span", { class: "code-label", text: label }),
    h("span", { class: "code-value", text: shown }),
  );
}

async function copy(text, what) {
  try {
    await copyText(text);
    status(`Copied ${what}: ${text}`, "ok");
  } catch (_) {
    status(`Could not copy. Select and copy by hand: ${text}`, "error");
  }
}

async function patch(color, change, done) {
  const mine = api.currentEpoch();
  try {
    const updated = await api.json(`/colors/${color.id}`, { method: "PATCH", json: change });
    if (mine !== api.currentEpoch()) return false;
    Object.assign(color, updated || {});
    status(done(color), "ok");
    return true;
  } catch (err) {
    report(err);
    return false;
  }
}

function swatch(color, index, bg) {
  const item = h("li", { class: "swatch", "data-id": color.id });
  const ink = inkOn(color.rgb);

  const chip = h(
    "button",
    { type: "button", class: "chip", title: "Click to copy the hex code" },
    h("span", { class: "visually-hidden", text: "Copy " }),
    h("span", { class: "chip-hex", text: color.hex }),
    h("span", { class: "chip-hint", text: "Copy", "aria-hidden": "true" }),
  );
  chip.style.backgroundColor = color.hex;
  chip.style.color = ink;
  chip.addEventListener("click", () => copy(color.hex, color.name));

  const name = h("input", {
    class: "swatch-name",
    value: color.name,
    maxLength: 255,
    "aria-label": `Name of ${color.hex}`,
    spellcheck: false,
  });
  name.addEventListener("keydown", (event) => {
    if (event.key === "Enter") name.blur();
    if (event.key === "Escape") {
      name.value = color.name;
      name.blur();
    }
  });
  name.addEventListener("change", async () => {
    const wanted = name.value.trim();
    if (!wanted || wanted === color.name) {
      name.value = color.name;
      return;
    }
    const ok = await patch(color, { name: wanted }, (c) => `${c.hex} is now called ${c.name}.`);
    name.value = color.name;
    if (ok) {
      renderStrip(view.colors, view.caption);
      exportCache = null;
      refreshExport();
    }
  });

  const codes = h(
    "div",
    { class: "codes" },
    codeButton("HEX", color.hex, color.hex),
    codeButton("RGB", rgbText(color.rgb), color.hex, color.rgb.join(" ")),
    codeButton("OKLCH", oklchText(color.oklch), color.hex, oklchText(color.oklch).slice(6, -1)),
  );

  const fill = h("span", { class: "share-fill" });
  fill.style.width = `${Math.min(100, color.share * 100).toFixed(2)}%`;
  const share = h(
    "div",
    { class: "share" },
    h("span", { class: "share-track", "aria-hidden": "true" }, fill),
    h("span", { class: "share-text", text: `${(color.share * 100).toFixed(1)}% of the image` }),
  );

  const badges = h(
    "ul",
    { class: "badges", "aria-label": `Contrast of text in ${color.hex}` },
    badge("white", color.contrast_white, color.wcag?.on_white, { bg: "#FFFFFF", fg: color.hex }),
    badge("black", color.contrast_black, color.wcag?.on_black, { bg: "#000000", fg: color.hex }),
  );
  if (bg && bg.color.id !== color.id) {
    badges.append(
      badge("the background", contrast(color.rgb, bg.color.rgb), null, { bg: bg.color.hex, fg: color.hex }),
    );
  } else if (bg) {
    const tile = h("span", { class: "sample is-self", "aria-hidden": "true" });
    tile.style.backgroundColor = color.hex;
    tile.style.setProperty("--fg", inkOn(color.rgb));
    badges.append(
      h(
        "li",
        { class: "badge is-bg", title: "This colour is the background the third badge of the others uses" },
        tile,
        h("span", { class: "visually-hidden", text: "This colour is " }),
        h("span", { class: "badge-level", text: "the bg" }),
      ),
    );
  }

  const role = h("select", { class: "role", "aria-label": `Role of ${color.hex}` });
  role.append(h("option", { value: "", text: "No role" }), ...ROLES.map((r) => h("option", { value: r, text: r })));
  role.value = color.role || "";
  role.addEventListener("change", async () => {
    const ok = await patch(color, { role: role.value || null }, (c) =>
      c.role ? `${c.hex} is now ${c.role}.` : `${c.hex} has no role now.`,
    );
    role.value = color.role || "";
    if (ok) {
      focusAfter = { id: color.id, selector: "select.role" };
      render({ projectId: view.projectId, sessionId: view.sessionId, colors: view.colors, caption: null });
    }
  });

  const inSession = Boolean(view.sessionId);
  const earlier = h("button", {
    type: "button",
    class: "icon-button",
    "aria-label": `Move ${color.hex} earlier`,
    title: inSession ? "Move earlier" : "Open one extraction to reorder its colours",
    disabled: !inSession || index === 0,
    text: "←",
    "data-move": "-1",
  });
  const later = h("button", {
    type: "button",
    class: "icon-button",
    "aria-label": `Move ${color.hex} later`,
    title: inSession ? "Move later" : "Open one extraction to reorder its colours",
    disabled: !inSession || index === view.colors.length - 1,
    text: "→",
    "data-move": "1",
  });
  for (const button of [earlier, later]) {
    button.addEventListener("click", () => move(color, index, Number(button.dataset.move)));
  }

  const remove = h("button", { type: "button", class: "button danger small-button", text: "Delete", "aria-label": `Delete ${color.hex}` });
  let armed = null;
  const disarm = () => {
    clearTimeout(armed);
    armed = null;
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${color.hex}`);
  };
  remove.addEventListener("blur", disarm);
  remove.addEventListener("click", async () => {
    if (!armed) {
      remove.textContent = "Confirm";
      remove.setAttribute("aria-label", `Confirm deleting ${color.hex}`);
      armed = setTimeout(disarm, 5000);
      return;
    }
    disarm();
    try {
      await api.request(`/colors/${color.id}`, { method: "DELETE" });
      status(`Deleted ${color.hex} (${color.name}).`, "ok");
      await view.reload();
    } catch (err) {
      report(err);
    }
  });

  item.append(
    chip,
    h(
      "div",
      { class: "swatch-body" },
      name,
      codes,
      share,
      badges,
      h("div", { class: "swatch-actions" }, role, h("div", { class: "move" }, earlier, later), remove),
    ),
  );
  return item;
}

async function move(color, index, step) {
  const to = index + step;
  if (to < 0 || to >= view.colors.length) return;
  try {
    await api.json(`/colors/${color.id}`, { method: "PATCH", json: { position: to } });
    focusAfter = { id: color.id, selector: `[data-move="${step}"]` };
    status(`Moved ${color.hex} to place ${to + 1}.`, "ok");
    await view.reload();
  } catch (err) {
    report(err);
  }
}

function dot(color) {
  const d = h("span", { class: "dot", "aria-hidden": "true" });
  d.style.backgroundColor = color.hex;
  return d;
}

function renderGrid(colors) {
  const table = $("contrast-grid");
  const shown = [...colors].sort((a, b) => b.share - a.share).slice(0, GRID_MAX);
  const note = colors.length > GRID_MAX ? `, the ${GRID_MAX} largest colours` : "";
  const head = h(
    "tr",
    {},
    h("td", { class: "corner" }),
    ...shown.map((bg) => h("th", { scope: "col" }, dot(bg), h("span", { class: "mono", text: bg.hex }))),
  );
  const rows = shown.map((fg) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, dot(fg), h("span", { class: "mono", text: fg.hex })),
      ...shown.map((bg) => {
        if (fg.id === bg.id) return h("td", { class: "same", text: "—" });
        const ratio = contrast(fg.rgb, bg.rgb);
        const lvl = level(ratio);
        const sample = h("span", { class: "sample", "aria-hidden": "true" });
        sample.style.backgroundColor = bg.hex;
        sample.style.setProperty("--fg", fg.hex);
        return h(
          "td",
          { class: lvl.pass ? "pass" : "fail" },
          sample,
          h("span", { class: "cell-ratio", text: ratioText(ratio) }),
          h("span", { class: "cell-level", text: lvl.label }),
        );
      }),
    ),
  );
  table.replaceChildren(
    h("caption", { class: "visually-hidden", text: `Contrast ratios between palette colours${note}` }),
    h("thead", {}, head),
    h("tbody", {}, ...rows),
  );
}

function exportPath(format) {
  return `/projects/${view.projectId}/export?${new URLSearchParams({ format })}`;
}

// Exports cover the whole project, whichever extraction is open.
async function fetchExport(format) {
  if (exportCache?.format === format) return exportCache;
  const { blob, filename } = await api.download(exportPath(format));
  exportCache = { format, blob, filename };
  return exportCache;
}

function scopeText() {
  const n = view.sessionId ? "" : ` (${view.colors.length} colours)`;
  return `The file holds every colour of the project${n}, named by role where one is set.`;
}

export function refreshExport() {
  clearTimeout(exportTimer);
  exportTimer = setTimeout(loadExportPreview, 120);
}

async function loadExportPreview() {
  if (!view.projectId || view.colors.length === 0 || !exportVisible) return;
  const seq = ++exportSeq;
  const format = $("export-format").value;
  say($("export-status"), "");
  try {
    const result = await fetchExport(format);
    if (seq !== exportSeq) return;
    $("export-preview").textContent = await result.blob.text();
    $("export-scope").textContent = scopeText();
  } catch (err) {
    if (seq !== exportSeq || api.isQuiet(err)) return;
    $("export-preview").textContent = "";
    $("export-scope").textContent = "";
    say($("export-status"), err.message, "error");
  }
}

async function downloadExport() {
  const format = $("export-format").value;
  const statusEl = $("export-status");
  say(statusEl, "Preparing the file…");
  try {
    const result = await fetchExport(format);
    const filename = result.filename || `tokens.${EXTENSIONS[format] || "txt"}`;
    const url = URL.createObjectURL(result.blob);
    const link = h("a", { href: url, download: filename, class: "visually-hidden" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    say(statusEl, `Downloaded ${filename}.`, "ok");
  } catch (err) {
    if (!api.isQuiet(err)) say(statusEl, err.message, "error");
  }
}

async function copyExport() {
  const text = $("export-preview").textContent;
  const statusEl = $("export-status");
  if (!text) {
    say(statusEl, "Nothing to copy yet.", "error");
    return;
  }
  try {
    await copyText(text);
    say(statusEl, "Copied the export to the clipboard.", "ok");
  } catch (_) {
    say(statusEl, "Could not copy. Select the text below and copy it by hand.", "error");
  }
}
