// The Check tab: a screenshot of the built UI against the project's palette — the score,
// the colours that drift with their nearest tokens, and a mask over the image.

import * as api from "./api.js";
import { inkOn, hexToRgb } from "./color.js";
import { $, h, say } from "./dom.js";
import { Progress, precheck, wireDropzone } from "./intake.js";

let projectId = null;
let progress = null;
let imageUrl = null; // blob: URLs of the screenshot and its mask, released when replaced
let maskUrl = null;
let seq = 0;

function status(text, kind) {
  say($("check-status"), text, kind);
}

export function init() {
  progress = new Progress({
    box: $("check-progress"),
    bar: $("check-progress-bar"),
    text: $("check-progress-text"),
    cancel: $("cancel-check"),
    status: $("check-status"),
  });
  wireDropzone($("check-dropzone"), $("check-file"), (taken) => take(taken));
  $("mask-toggle").addEventListener("change", () => {
    $("check-mask").hidden = !$("mask-toggle").checked;
  });
}

export function setProject(id) {
  if (id === projectId) return;
  projectId = id;
  reset();
}

export function reset() {
  seq += 1;
  progress?.controller?.abort();
  $("check-result").hidden = true;
  $("off-palette").replaceChildren();
  for (const img of [$("check-image"), $("check-mask")]) img.removeAttribute("src");
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  if (maskUrl) URL.revokeObjectURL(maskUrl);
  imageUrl = null;
  maskUrl = null;
  say($("check-status"), "");
}

export function take(taken) {
  if (!taken) {
    status("Drop an image file (PNG, JPEG, WebP or GIF).", "error");
    return;
  }
  if (taken.url) {
    status("The check takes an image file: save the image and drop it here.", "error");
    return;
  }
  run(taken.file);
}

function chip(hex, label) {
  const el = h("span", { class: "mini-chip", text: hex, title: label });
  el.style.backgroundColor = hex;
  el.style.color = inkOn(hexToRgb(hex) || [0, 0, 0]);
  return el;
}

async function run(file) {
  if (!projectId) {
    status("Open a project first.", "error");
    return;
  }
  if (progress.busy) {
    status("A check is already running; cancel it first.", "error");
    return;
  }
  const problem = precheck(file);
  if (problem) {
    status(problem, "error");
    return;
  }
  reset();
  const mine = seq;
  const form = new FormData();
  form.append("image", file, file.name || "screenshot.png");
  const signal = progress.begin(`Uploading ${file.name || "the screenshot"}…`);
  try {
    const response = await api.upload(`/projects/${projectId}/check`, form, {
      signal,
      onProgress: (fraction, phase) => progress.update(fraction, phase, "Comparing with the palette…"),
    });
    const report = await response.json();
    if (mine !== seq) return;
    imageUrl = URL.createObjectURL(file);
    $("check-image").src = imageUrl;
    show(report);
    status(`Scored ${Math.round(report.score)} out of 100.`, "ok");
    if (report.mask_id) await loadMask(report.mask_id, mine);
  } catch (err) {
    if (mine !== seq) return;
    if (err?.name === "AbortError") status("Check cancelled.");
    else if (err.status === 404 || err.status === 405) {
      status("Checking screenshots is not available on this server yet.", "error");
    } else if (!api.isQuiet(err)) status(err.message, "error");
  } finally {
    progress.end();
  }
}

// The mask is the owner's only: fetched with the bearer token and shown as a blob URL.
async function loadMask(id, mine) {
  try {
    const { blob } = await api.download(`/checks/${encodeURIComponent(id)}/mask`);
    if (mine !== seq) return;
    maskUrl = URL.createObjectURL(blob);
    $("check-mask").src = maskUrl;
    $("check-mask").hidden = !$("mask-toggle").checked;
  } catch (err) {
    if (mine === seq && !api.isQuiet(err)) status(`The score is in, but the mask could not be loaded: ${err.message}`, "error");
  }
}

function verdict(score) {
  if (score >= 85) return "On palette: the screenshot sticks to the project's colours.";
  if (score >= 60) return "Some drift: a few colours are off the palette.";
  return "Off palette: much of the screenshot uses colours the project does not have.";
}

function show(report) {
  const score = Math.max(0, Math.min(100, Number(report.score) || 0));
  $("check-score").textContent = String(Math.round(score));
  $("check-meter").value = score;
  const tolerance = Number(report.tolerance);
  $("check-verdict").textContent =
    `${verdict(score)} ${Number.isFinite(tolerance) ? `Tolerance: ${tolerance.toFixed(3)} (OKLab distance).` : ""}`.trim();
  const off = report.off_palette || [];
  $("off-palette-empty").hidden = off.length > 0;
  $("off-palette").replaceChildren(
    ...off.map((o) =>
      h(
        "li",
        { class: "off-item" },
        chip(o.hex, "Found in the screenshot"),
        h("span", { class: "arrow", "aria-hidden": "true", text: "→" }),
        o.nearest ? chip(o.nearest.hex, "Nearest token") : h("span", { text: "no token" }),
        h(
          "span",
          { class: "off-text" },
          h("strong", { text: o.nearest ? `nearest: ${o.nearest.name}` : "no nearby token" }),
          h("span", {
            class: "small muted-strong",
            text: `${(o.share * 100).toFixed(1)}% of the screenshot · distance ${Number(o.distance).toFixed(3)}`,
          }),
        ),
      ),
    ),
  );
  $("check-result").hidden = false;
}
