#!/usr/bin/env bash
# Real-consumer test of every export format (S28): extracts a palette from a generated image
# with `copythat extract --format X`, renders hostile names with the export_tokens example,
# and builds both with the pinned tools that read each format; prints consumer x format x version.
#
#   .ci/consumers/run.sh [COPYTHAT_BIN [EXPORT_TOKENS_BIN]]
#
# Without arguments both binaries are built with cargo (into $CARGO_TARGET_DIR). The npm
# packages are installed with `npm ci` from the committed lock file into
# ${COPYTHAT_CONSUMERS_CACHE:-/work/cache/consumers}, outside the checkout, and reused while
# the lock file is unchanged. Needs node (20 or newer) and npm; talks only to the npm registry.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${COPYTHAT_CONSUMERS_CACHE:-/work/cache/consumers}"

copythat="${1:-}"
export_tokens="${2:-}"
if [ -z "$copythat" ] || [ -z "$export_tokens" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target}"
  (cd "$repo" && cargo build --locked -q -p copythat-server --bin copythat \
    && cargo build --locked -q -p copythat-core --example export_tokens)
  copythat="${copythat:-$CARGO_TARGET_DIR/debug/copythat}"
  export_tokens="${export_tokens:-$CARGO_TARGET_DIR/debug/examples/export_tokens}"
fi
for bin in "$copythat" "$export_tokens"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done

# Install once per lock file (and node version); install scripts are not run.
mkdir -p "$cache"
stamp="$(cat "$here/package-lock.json" "$here/package.json" | sha256sum | cut -c1-64) $(node --version)"
if [ ! -d "$cache/node_modules" ] || [ "$(cat "$cache/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "==> npm ci into $cache"
  rm -f "$cache/.installed"
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$stamp" > "$cache/.installed"
fi
cp "$here/check.mjs" "$here/image.mjs" "$cache/"

# The work folder sits under the install folder so the consumers resolve their packages
# (`@import "tailwindcss"`, Terrazzo's plugins) from it.
work="$cache/work"
rm -rf "$work"
mkdir -p "$work"

node "$cache/image.mjs" "$work/page.png"
formats=(dtcg dtcg-hex css scss tailwind tailwind4 style-dictionary)
ext() {
  case "$1" in
    dtcg) echo tokens.json ;; dtcg-hex) echo hex.tokens.json ;; css) echo css ;; scss) echo scss ;;
    tailwind) echo js ;; tailwind4) echo tailwind.css ;; style-dictionary) echo json ;;
  esac
}
for format in "${formats[@]}"; do
  "$copythat" extract "$work/page.png" -n 8 --format "$format" > "$work/palette.$(ext "$format")"
done

# Hostile names and set name: comment terminators, references, reserved keys, tags, quotes,
# backslashes, newlines, @-rules, Sass interpolation. One is the primary, so Tailwind classes
# are checked on it too.
cat > "$work/hostile-input.json" <<'JSON'
[
  { "name": "*/ .pwn { color: red } /*", "hex": "#ff0000", "role": "primary", "share": 0.3 },
  { "name": "{x}", "hex": "#00ff00" },
  { "name": "{color.primary}", "hex": "#0000ff" },
  { "name": "value", "hex": "#111111" },
  { "name": "type", "hex": "#222222" },
  { "name": "comment", "hex": "#333333" },
  { "name": "DEFAULT", "hex": "#444444" },
  { "name": "$extensions", "hex": "#555555" },
  { "name": "</style><script>alert(1)</script>", "hex": "#666666" },
  { "name": "\"; } .pwn2 { x: \"", "hex": "#777777" },
  { "name": "back\\slash \\\" \\\\", "hex": "#888888" },
  { "name": "line\n}\n.pwn3 { color: red }\n/*", "hex": "#999999" },
  { "name": "@import url(https://evil.invalid/x.css);", "hex": "#aaaaaa" },
  { "name": "#{$x} ${x}", "hex": "#bbbbbb" },
  { "name": "x", "hex": "#2563eb", "role": "secondary" },
  { "name": "y", "hex": "#93c5fd", "role": "secondary" }
]
JSON
hostile_set=$'*/ .pwnset { color: red } /* {x} </style> "quote" \\ \n @import url(evil.css);'
for format in "${formats[@]}"; do
  "$export_tokens" "$format" "$hostile_set" < "$work/hostile-input.json" > "$work/hostile.$(ext "$format")"
done

cd "$cache"
node "$cache/check.mjs" "$work"
