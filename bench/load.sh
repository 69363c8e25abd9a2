#!/usr/bin/env bash
# Throughput and latency of a release build on loopback, measured with oha in one run:
# `/health`, an unauthenticated 401, the authenticated project list and an extraction, on
# SQLite or PostgreSQL. Never part of the test suite: figures depend on the machine.
#
#   bash bench/load.sh [sqlite|postgres] [seconds] [connections]
#
# Needs oha (`cargo install --locked oha@1.14.0`) and, for postgres, a server reachable at
# $COPYTHAT_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; the run
# uses a schema of its own and drops it afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
seconds="${2:-10}"
connections="${3:-64}"
command -v oha >/dev/null || { echo "oha not found: cargo install --locked oha@1.14.0" >&2; exit 1; }

# COPYTHAT_BENCH_BINARY runs another build (an older commit, for before/after figures).
binary="${COPYTHAT_BENCH_BINARY:-}"
if [ -z "$binary" ]; then
  cargo build --release --locked -q -p copythat-server --bin copythat
  binary="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/copythat"
fi
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
schema=""
case "$backend" in
  sqlite) database_url="sqlite://$work/bench.db" ;;
  postgres)
    pg="${COPYTHAT_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
    schema="bench_$(date +%s)_$$"
    psql -q "$pg" -c "CREATE SCHEMA $schema"
    database_url="$pg?options=-csearch_path%3D$schema"
    ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac

cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$schema" ] && psql -q "$pg" -c "SET client_min_messages = warning" -c "DROP SCHEMA $schema CASCADE" || true
  rm -rf "$work"
}
trap cleanup EXIT

# Limits far above what one machine can send: the run measures the server, not its quotas.
COPYTHAT_BIND="127.0.0.1:$port" DATABASE_URL="$database_url" COPYTHAT_LOG=warn \
COPYTHAT_RATE_PER_MINUTE=100000000 COPYTHAT_RATE_PER_HOUR=1000000000 \
COPYTHAT_EXTRACT_PER_MINUTE=100000000 COPYTHAT_LOGIN_PER_MINUTE=100000 \
COPYTHAT_CONNECTIONS_PER_ADDRESS=1024 COPYTHAT_MAX_SESSIONS_PER_PROJECT=100000 \
  "$binary" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$base/health" >/dev/null || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

email="bench-$RANDOM$RANDOM@example.com"
password="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
curl -fs "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
token="$(curl -fs "$base/api/v1/auth/token" --data-urlencode "username=$email" \
  --data-urlencode "password=$password" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
project="$(curl -fs "$base/api/v1/projects" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name":"Bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
for i in $(seq 1 5); do
  curl -fs "$base/api/v1/projects" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"name\":\"Bench $i\"}" >/dev/null
done
# A 256 x 256 UI-like PNG, as JSON with base64.
python3 - "$project" >"$work/extract.json" <<'EOF'
import base64, json, struct, sys, zlib
w = h = 256
rows = []
for y in range(h):
    row = bytearray()
    for x in range(w):
        c = (255, 255, 255)
        if y < 40: c = (17, 24, 39)
        elif 100 <= y < 130 and 60 <= x < 180: c = (37, 99, 235)
        elif x < 48: c = (243, 244, 246)
        row += bytes(c)
    rows.append(b"\0" + bytes(row))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
print(json.dumps({"project_id": sys.argv[1], "image_base64": base64.b64encode(png).decode()}))
EOF

run() {
  local name="$1" conns="$2"; shift 2
  oha --no-tui --output-format json -z "${seconds}s" -c "$conns" "$@" >"$work/$name.json"
  python3 - "$name" "$work/$name.json" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
print(f"{name:<22} {s['requestsPerSec']:>10.0f} req/s   p50 {p['p50']*1000:7.2f} ms   "
      f"p99 {p['p99']*1000:7.2f} ms   statuses {codes}")
EOF
}

echo "backend $backend, ${seconds}s per route, $connections connections, $(nproc) cores"
run health "$connections" "$base/health"
run unauthenticated_401 "$connections" "$base/api/v1/projects"
run list_projects "$connections" -H "authorization: Bearer $token" "$base/api/v1/projects"
# Extraction is CPU-bound: as many connections as upload slots an account has.
run extract_256px 4 -m POST -T application/json -D "$work/extract.json" \
  -H "authorization: Bearer $token" "$base/api/v1/colors/extract"
