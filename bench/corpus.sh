#!/usr/bin/env bash
# Fetches the real .crate files of a dependency graph from crates.io, through
# cargo only (a throw-away project and `cargo fetch`), for the benchmarks.
#
# usage: bench/corpus.sh DEPS_TOML OUT_DIR
#   DEPS_TOML  the body of a [dependencies] table, e.g. bench/app-deps.toml
#   OUT_DIR    receives:
#     crates/NAME-VERSION.crate  every crates.io package of the graph, for every
#                                target (hard links into the cache below)
#     Cargo.lock                 the graph (bench/mirror.sh mirrors it)
#     cargo-home/                the CARGO_HOME the download used: its index
#                                cache and registry/cache/*/*.crate stay (the
#                                unpacked sources are deleted), so a second run
#                                downloads nothing
#
# If a lockfile sits beside DEPS_TOML (same name, `.lock` for `.toml`), the
# graph is exactly that lockfile (`cargo fetch --locked`), so the corpus is the
# same bytes on every machine and every day. Without one, cargo resolves the
# newest versions; copy OUT_DIR/Cargo.lock beside DEPS_TOML to pin them.
# Nothing outside OUT_DIR is written (the user's ~/.cargo is not used).
# Prints one line: the number of crates and their bytes.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DEPS_TOML OUT_DIR" >&2; exit 2; }
deps="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
pin="${deps%.toml}.lock"
out="$(mkdir -p "$2" && cd "$2" && pwd)"

# The inputs' digest: when it matches the last complete run, nothing is done.
stamp="$( { cat "$deps"; [ ! -f "$pin" ] || cat "$pin"; } | sha256sum | cut -d' ' -f1)"
if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$stamp" ]; then
  :
else
  rm -f "$out/.complete"
  proj="$out/project"
  rm -rf "$proj" && mkdir -p "$proj/src"
  : > "$proj/src/lib.rs"
  {
    printf '[package]\nname = "bench-corpus"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
    printf '[workspace]\n\n[dependencies]\n'
    cat "$deps"
  } > "$proj/Cargo.toml"
  export CARGO_HOME="$out/cargo-home"
  locked=()
  if [ -f "$pin" ]; then
    cp "$pin" "$proj/Cargo.lock"
    locked=(--locked)
  fi
  # Without --target, cargo fetch downloads the packages of every platform.
  cargo fetch --quiet "${locked[@]}" --manifest-path "$proj/Cargo.toml"
  cp "$proj/Cargo.lock" "$out/Cargo.lock"
  # cargo fetch also unpacks every package (~450 MB for the application); only
  # the .crate files are needed.
  rm -rf "$CARGO_HOME/registry/src"

  # Exactly the lockfile's crates.io packages, whatever else the cache holds.
  rm -rf "$out/crates" && mkdir -p "$out/crates"
  python3 - "$out/Cargo.lock" <<'PY' > "$out/packages.txt"
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for p in lock.get("package", []):
    if p.get("source", "").startswith("registry+https://github.com/rust-lang/crates.io-index"):
        print(f'{p["name"]}-{p["version"]}.crate')
PY
  cache=("$CARGO_HOME"/registry/cache/*/)
  while read -r file; do
    found=""
    for c in "${cache[@]}"; do
      if [ -f "$c$file" ]; then found="$c$file"; break; fi
    done
    [ -n "$found" ] || { echo "corpus.sh: cargo fetch left no $file in $CARGO_HOME/registry/cache" >&2; exit 1; }
    ln -f "$found" "$out/crates/$file" 2>/dev/null || cp "$found" "$out/crates/$file"
  done < "$out/packages.txt"
  echo "$stamp" > "$out/.complete"
fi
n=$(find "$out/crates" -name '*.crate' | wc -l)
bytes=$(find "$out/crates" -name '*.crate' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "corpus $(basename "$deps" .toml): $n crates, $bytes bytes in $out/crates"
