#!/usr/bin/env bash
# How long `cargo install --locked --path .` takes from a clean target folder,
# as a user installing from a clone waits (issue: "the house": install time,
# default and minimal features). Registry downloads are not timed: a
# `cargo fetch --locked` runs first, so the figure is the compilation only.
#
# usage: bench/install-time.sh [default|minimal]...
#   default  cargo's default features
#   minimal  --no-default-features (only once Cargo.toml has a [features] table)
#   (no argument: default, and minimal when there are features)
#   RUNS=1   installs per variant (each from a new empty target folder)
# Prints one line per install: wall, user and system seconds, peak memory of the
# largest process, the binary's size, and the 1-minute load average before and after.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
repo="$(cd "$(dirname "$0")/.." && pwd)"
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
  variants=(default)
  grep -q '^\[features\]' "$repo/Cargo.toml" && variants+=(minimal)
fi
cargo fetch --locked --manifest-path "$repo/Cargo.toml" -q
echo "rustc: $(rustc --version); $(nproc) cores; commit $(git -C "$repo" rev-parse --short HEAD)"
for v in "${variants[@]}"; do
  case "$v" in
    default) flags=() ;;
    minimal) flags=(--no-default-features) ;;
    *) echo "install-time.sh: unknown variant $v (default or minimal)" >&2; exit 2 ;;
  esac
  for _ in $(seq "${RUNS:-1}"); do
    tmp="$(mktemp -d)"
    before="$(cut -d' ' -f1 /proc/loadavg)"
    line="$(CARGO_TARGET_DIR="$tmp/target" timed "$v" \
      cargo install --quiet --locked --path "$repo" --root "$tmp/root" "${flags[@]}")"
    after="$(cut -d' ' -f1 /proc/loadavg)"
    echo "$line; binary $(stat -c %s "$tmp/root/bin/regtool") bytes; load $before before, $after after"
    rm -rf "$tmp"
  done
done
