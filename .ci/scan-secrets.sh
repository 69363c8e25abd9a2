#!/usr/bin/env bash
# S22: fails if a tracked file holds something that looks like a real credential.
# Any number of files: xargs may run grep in several batches, and a batch without a match
# exits 1 (xargs then says 123) — so the verdict is taken from the matches themselves.
set -euo pipefail
pattern='-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|(redis|rediss|postgres|postgresql)://[^:@/ ]+:[^@/ ]{6,}@|\bct_[A-Za-z0-9_-]{40,}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}|(SECRET_KEY|PASSWORD|API_KEY)[A-Z_]*[=:] *["'\'']?[A-Za-z0-9+_-][A-Za-z0-9+/_-]{23,}'
matches="$(mktemp)"
trap 'rm -f "$matches"' EXIT
status=0
git ls-files -z | xargs -0 -r grep -nIE -e "$pattern" -- >"$matches" || status=$?
# 0: matches; 123: some batch had none (or failed: grep prints its errors on stderr).
if [ "$status" -ne 0 ] && [ "$status" -ne 123 ]; then
  echo "secret scan: grep or xargs failed ($status)" >&2
  exit 1
fi
if [ -s "$matches" ]; then
  cat "$matches"
  echo "secret scan: the lines above look like committed credentials" >&2
  exit 1
fi
echo "secret scan: clean ($(git ls-files | wc -l) files)"
