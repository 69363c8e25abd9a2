#!/usr/bin/env bash
# The web page's end-to-end test in headless Chromium: installs what it needs (Debian's
# chromium, pinned Python and npm packages, cached outside the checkout), then runs e2e.py.
#
#   bash .ci/browser/run.sh [path/to/copythat]
#
# The binary defaults to $CARGO_TARGET_DIR/debug/copythat (built if missing). Screenshots go
# to $COPYTHAT_BROWSER_ARTIFACTS, default ${COPYTHAT_ARTIFACTS:-/work/artifacts}/browser.
# The tools are cached in $COPYTHAT_BROWSER_CACHE (default ~/.cache/copythat-browser) and
# reinstalled only when requirements.txt or package-lock.json change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${COPYTHAT_BROWSER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/copythat-browser}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

binary="${1:-}"
if [ -z "$binary" ]; then
  binary="${CARGO_TARGET_DIR:-$repo/target}/debug/copythat"
  (cd "$repo" && cargo build --locked -p copythat-server --bin copythat)
fi
[ -x "$binary" ] || { echo "no copythat binary at $binary" >&2; exit 1; }

# Chromium from Debian; never a browser download of playwright's own.
if [ ! -x "$chromium" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

mkdir -p "$cache"
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

want="$(stamp "$here/requirements.txt")"
if [ ! -x "$cache/venv/bin/python" ] || [ "$(cat "$cache/venv/.stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$cache/venv"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r "$here/requirements.txt"
  echo "$want" >"$cache/venv/.stamp"
fi

want="$(stamp "$here/package.json" "$here/package-lock.json")"
if [ ! -f "$cache/node/node_modules/axe-core/axe.min.js" ] || [ "$(cat "$cache/node/.stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$cache/node"
  mkdir -p "$cache/node"
  cp "$here/package.json" "$here/package-lock.json" "$cache/node/"
  (cd "$cache/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$cache/node/.stamp"
fi

exec "$cache/venv/bin/python" "$here/e2e.py" --binary "$binary" --chromium "$chromium" \
  --axe "$cache/node/node_modules/axe-core/axe.min.js"
