#!/usr/bin/env bash
# Installs the advisory database snapshot from ../shared/advisory-db as the git checkout
# cargo-deny and cargo-audit expect, since neither may fetch it here. Prints its path.
set -euo pipefail
src="${1:?usage: advisory-db.sh SNAPSHOT_DIR}"
dest="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
stamp="$(head -n 1 "$src/SNAPSHOT")"
if [ -f "$dest/.snapshot" ] && [ "$(cat "$dest/.snapshot")" = "$stamp" ]; then
  echo "$dest"
  exit 0
fi
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$src/." "$dest/"
snapshot_date="$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$src/SNAPSHOT" | head -n 1)"
(
  cd "$dest"
  git init -q
  git add -A
  GIT_AUTHOR_DATE="${snapshot_date}T00:00:00Z" GIT_COMMITTER_DATE="${snapshot_date}T00:00:00Z" \
    git -c user.name=ci -c user.email=ci@localhost commit -qm "advisory-db snapshot"
)
echo "$stamp" > "$dest/.snapshot"
echo "$dest"
