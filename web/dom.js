// Small DOM helpers shared by the page's modules: lookup, element building, and the status
// lines that announce results next to the control that caused them.

export const $ = (id) => document.getElementById(id);

// Builds an element: `h("button", { class: "x", type: "button" }, "Label", child)`.
// Properties go through the DOM (never HTML strings), so user text is always inert.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof el[key] !== "function" && !key.includes("-")) el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

// Puts `text` in a status line (role=status, so screen readers announce it); `kind` is
// "error", "ok" or "" and only changes its look.
export function say(el, text, kind = "") {
  el.textContent = text;
  el.dataset.kind = kind;
}

export function formatDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

// Copies text; falls back to a selection copy where the async clipboard is unavailable
// (plain HTTP on a LAN address is not a secure context).
export async function copyText(text) {
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h("textarea", { class: "visually-hidden", readOnly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy failed");
}
