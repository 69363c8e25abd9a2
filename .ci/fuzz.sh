#!/usr/bin/env bash
# S26: builds every fuzz target, replays its committed corpus (each input once, so a fixed
# crash stays fixed), then fuzzes it for a short bounded time. Needs nightly and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${COPYTHAT_FUZZ_SECONDS:-20}"
# The fuzz crate is its own workspace; its build stays beside the main one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target}/fuzz"
targets="$(cargo +nightly fuzz list)"
cargo +nightly fuzz build
for target in $targets; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  echo "==> $target: replaying $(ls "$corpus" | wc -l) inputs, then fuzzing ${seconds}s"
  # A scratch copy takes the new inputs of the short run; the committed corpus is not
  # rewritten by CI.
  scratch="$(mktemp -d)"
  cp -R "$corpus/." "$scratch/"
  cargo +nightly fuzz run "$target" "$scratch" -- -runs=0
  cargo +nightly fuzz run "$target" "$scratch" -- -max_total_time="$seconds" -rss_limit_mb=2048
  rm -rf "$scratch"
done
