#!/usr/bin/env bash
# regtool's own benchmarks, run on purpose (never in CI): each figure next to the
# floor for the same bytes (bench/floor). See BENCHMARKS.md for the figures and
# how to read them; bench/compare.sh makes the table against margo.
#
# usage: bench/run.sh [WORKDIR]      (default: target/bench; ends with bench/mirror.sh)
#   RUNS=5                                  hyperfine runs per command
#   REGTOOL=/path/to/regtool                that binary (default: a release build of this checkout)
#   SYNTH_CRATES=10000 SYNTH_VERSIONS=10    size of the synthetic registry
#   SKIP_BIG=1 SKIP_MIRROR=1                leave out the 1 GB crate / bench/mirror.sh
# The registries have their catalogue off (`init --no-html`), as in the figures
# before the catalogue existed; compare.sh measures what the catalogue costs.
# Downloads (once, through cargo, kept in WORKDIR/corpus/cargo-home and
# WORKDIR/app/cargo-home): the development corpus (bench/corpus-deps.toml, 242
# crates, 57 MB) and, for mirror.sh, the application's graph (443 crates, 60 MB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
build_regtool
build_floor

# 1. The development corpus: ~240 real crates with varied manifests.
fetch_corpus corpus
corpus="$work/corpus/crates"
n=$(find "$corpus" -name '*.crate' | wc -l)
mb=$(du -smL "$corpus" | cut -f1)

# 2. The synthetic registry, catalogue off.
synth="$(synth_registry off)"
versions=$(find "$synth/crates" -name '*.crate' | wc -l)
echo "synthetic registry: $versions versions"

one="$work/one"
make_one_crate "$one"
empty="$work/empty"
rm -rf "$empty" && "$rt" -q init "$empty" --url "$url" --no-html
empty_trash

fresh="$work/fresh"
results="$work/results.md"
: > "$results"
bench_one "$results" "add corpus ($n crates, $mb MB) into a fresh registry" \
  "$(to_trash "$fresh") && $rt -q init $fresh --url $url --no-html && cat $corpus/*.crate > /dev/null && sync" \
  "$rt -q --registry $fresh add $corpus"
empty_trash
bench_one "$results" "add 1 crate into the $versions-version registry" \
  "$rt -q --registry $synth remove bench-one@1.0.0 2>/dev/null; sync" \
  "$rt -q --registry $synth add $one/bench-one-1.0.0.crate"
bench_one "$results" "add 1 crate into an empty registry" \
  "$rt -q --registry $empty remove bench-one@1.0.0 2>/dev/null; sync" \
  "$rt -q --registry $empty add $one/bench-one-1.0.0.crate"
bench_one "$results" "reindex the corpus registry" "sync" "$rt -q reindex $fresh"
bench_one "$results" "verify the corpus registry" "true" "$rt -q verify $fresh"
bench_one "$results" "reindex the $versions-version registry" \
  "$rt -q --registry $synth remove bench-one@1.0.0 2>/dev/null; sync" "$rt -q reindex $synth"
bench_one "$results" "verify the $versions-version registry" "true" "$rt -q verify $synth"
bench_one "$results" "floor, 1 core: read + SHA-256 + inflate the corpus" "true" "$floor --threads 1 $corpus"
bench_one "$results" "floor, 2 cores: the same" "true" "$floor --threads 2 $corpus"
echo
echo "floor, per step: $("$floor" --threads 1 "$corpus")"
echo
cat "$results"
if [ -z "${SKIP_BIG:-}" ]; then
  echo
  echo "peak memory, 1 GB .crate:"
  python3 "$here/big-crate.py" "$rt"
  empty_trash
fi
if [ -z "${SKIP_MIRROR:-}" ]; then
  echo
  echo "mirror (bench/mirror.sh):"
  REGTOOL="$rt" "$here/mirror.sh" "$work"
fi
