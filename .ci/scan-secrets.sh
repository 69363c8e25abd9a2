#!/usr/bin/env bash
# S22: fails if a tracked file holds something that looks like a real credential.
set -euo pipefail
pattern='-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|(redis|rediss|postgres|postgresql)://[^:@/ ]+:[^@/ ]{6,}@|\bct_[A-Za-z0-9_-]{40,}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}|(SECRET_KEY|PASSWORD|API_KEY)[A-Z_]*[=:] *["'\'']?[A-Za-z0-9+_-][A-Za-z0-9+/_-]{23,}'
if git ls-files -z | xargs -0 grep -nIE -e "$pattern" -- ; then
  echo "secret scan: the lines above look like committed credentials" >&2
  exit 1
fi
echo "secret scan: clean"
