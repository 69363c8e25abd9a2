// Getting an image in: a drop zone (files or an image dragged from another page), the file
// picker, and an upload progress line with a cancel button.

import { say } from "./dom.js";

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].some((t) => t === "Files" || t === "text/uri-list");
}

// The first file in a drop or paste, or an http(s) URL dragged from another page.
export function takeImage(transfer) {
  const file = [...(transfer?.files || [])][0];
  if (file) return { file };
  const uri = (transfer?.getData?.("text/uri-list") || "").split(/\r?\n/).find((l) => l && !l.startsWith("#"));
  if (uri && /^https?:\/\//i.test(uri)) return { url: uri.trim() };
  return null;
}

// Makes `zone` accept drops and `input` (a file picker) pick; each hands its image to `take`.
export function wireDropzone(zone, input, take) {
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";
    if (file) take({ file });
  });
  const over = (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  };
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation();
    zone.classList.remove("over");
    take(takeImage(event.dataTransfer));
  });
}

// A short, readable size: "2.4 MiB".
export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// Refuses, before any upload, what the server would refuse anyway.
export function precheck(file) {
  if (file.size === 0) return "That file is empty.";
  if (file.size > MAX_IMAGE_BYTES) {
    return `${file.name || "That image"} is ${sizeText(file.size)}; the limit is 10 MiB.`;
  }
  return null;
}

// One progress line: a bar, a label, a cancel button. `begin` returns the AbortSignal the
// upload listens to.
export class Progress {
  constructor({ box, bar, text, cancel, status }) {
    Object.assign(this, { box, bar, text, cancel, status });
    this.controller = null;
    cancel.addEventListener("click", () => this.controller?.abort());
  }

  get busy() {
    return this.controller !== null;
  }

  begin(label) {
    this.controller = new AbortController();
    this.box.hidden = false;
    this.bar.value = 0;
    this.text.textContent = label;
    this.cancel.hidden = false;
    say(this.status, "");
    return this.controller.signal;
  }

  update(fraction, phase, processingLabel) {
    if (phase === "processing") {
      this.bar.removeAttribute("value"); // indeterminate while the server works
      this.text.textContent = processingLabel;
      return;
    }
    if (fraction === null) this.bar.removeAttribute("value");
    else {
      this.bar.value = Math.round(fraction * 100);
      this.text.textContent = `Uploading… ${Math.round(fraction * 100)}%`;
    }
  }

  end() {
    this.controller = null;
    this.box.hidden = true;
  }
}
