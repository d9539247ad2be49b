#!/usr/bin/env bash
# README sanitizer: the fast path (src/catalogue/readme/fast.rs) against
# ammonia on every README of real crates.
#
#   bench/readme-diff.sh DIR...        # folders of .crate files
#
# For each folder, renders the README each `.crate` would show (as `regtool
# add` picks it) with pulldown-cmark, then sanitizes the HTML of those without
# raw HTML both ways, and prints: READMEs, those with raw HTML (always
# ammonia), those the fast path took, identical, differing. Exits non-zero if
# any differ (each difference is printed). A release build of the library's
# tests (the ignored test `corpus_diff`).
#
# To time rendering instead: REGTOOL_README_CRATES=DIR REGTOOL_README_ROUNDS=N
#   cargo test --release --lib corpus_render -- --ignored --nocapture
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 DIR..." >&2; exit 2; }
dirs=()
for d in "$@"; do dirs+=("$(cd "$d" && pwd)"); done
REGTOOL_README_DIFF="$(IFS=:; echo "${dirs[*]}")" \
    cargo test --locked --release --lib catalogue::readme::tests::corpus_diff -- \
    --ignored --exact --nocapture 2>&1 | grep -v '^running\|^test result\|^$'
