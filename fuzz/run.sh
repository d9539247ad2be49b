#!/usr/bin/env bash
# Runs every fuzz target for a while on the stable toolchain.
#
#   fuzz/run.sh [SECONDS]        # default 30 seconds per target
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, ...); on a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. Installs cargo-fuzz when it
# is missing. The corpora are seeded from fixtures/ first (fuzz/seed.sh).
# Exits non-zero when a target finds a crash; the input is saved under
# fuzz/artifacts/TARGET/; replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -O --debug-assertions --codegen-units 16 TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-30}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

"$here/seed.sh"
cd "$here"
targets=(crate_reader crate_tar manifest_to_entry upstream_index catalogue)
# One build for all targets (-O: release; debug assertions on, to catch
# arithmetic overflow). 16 codegen units, not cargo-fuzz's 1 for -O (the
# trade its help names: a faster build, somewhat slower runs): the build is
# most of this script's time on CI's 2 cores, and the figures are in the
# commit that made the change. `cargo fuzz run` below takes the same flags,
# so it builds nothing again.
build=(-O --debug-assertions --codegen-units 16)
cargo fuzz build "${build[@]}"
for t in "${targets[@]}"; do
    # upstream_index: no single allocation may pass 64 MB (a line is read
    # into at most 1 MiB, whatever the input says).
    extra=()
    case "$t" in
        crate_tar) max_len=65536 ;;
        manifest_to_entry) max_len=65536 ;;
        upstream_index) max_len=262144; extra=(-malloc_limit_mb=64) ;;
        catalogue) max_len=65536 ;;
        *) max_len=262144 ;;
    esac
    echo "fuzzing $t for ${seconds}s"
    # libFuzzer prints a line per new input: keep it in a log, show the summary
    # (and the whole log's tail when it finds something).
    log="$here/artifacts/$t.log"
    mkdir -p "$here/artifacts"
    if cargo fuzz run "${build[@]}" "$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -max_len="$max_len" "${extra[@]}" >"$log" 2>&1; then
        grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs" "$log" || tail -n 2 "$log"
    else
        tail -n 60 "$log"
        echo "fuzz target $t failed; the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
