// Colour arithmetic the page needs beside what the API sends: WCAG contrast between any two
// palette colours, the level a ratio reaches, and the copyable CSS spellings of a token.

// WCAG 2.x relative luminance of an 8-bit sRGB colour.
function luminance([r, g, b]) {
  const linear = (v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

export const WHITE = [255, 255, 255];
export const BLACK = [0, 0, 0];

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The best level a ratio reaches for text. Judged unrounded: WCAG forbids rounding 4.49 up.
export function level(ratio) {
  if (ratio >= 7) return { label: "AAA", pass: true };
  if (ratio >= 4.5) return { label: "AA", pass: true };
  if (ratio >= 3) return { label: "AA large", pass: true };
  return { label: "Fails", pass: false };
}

// The same, from the API's `wcag` flags for one background, so the badge agrees with the server.
export function levelOfFlags(flags, ratio) {
  if (!flags) return level(ratio);
  if (flags.aaa_normal) return { label: "AAA", pass: true };
  if (flags.aa_normal) return { label: "AA", pass: true };
  if (flags.aa_large) return { label: "AA large", pass: true };
  return { label: "Fails", pass: false };
}

export function ratioText(ratio) {
  // Truncated, never rounded up, so 4.499 never reads as 4.50.
  return (Math.floor(ratio * 100) / 100).toFixed(2);
}

// Black or white, whichever reads better on `rgb` (always at least 4.5:1).
export function inkOn(rgb) {
  return contrast(rgb, WHITE) >= contrast(rgb, BLACK) ? "#FFFFFF" : "#000000";
}

export function rgbText([r, g, b]) {
  return `rgb(${r} ${g} ${b})`;
}

export function oklchText([l, c, h]) {
  return `oklch(${(l * 100).toFixed(1)}% ${c.toFixed(3)} ${h.toFixed(1)})`;
}

export function hexToRgb(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : null;
}
