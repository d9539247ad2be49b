#!/usr/bin/env bash
# The side-by-side table of the speed issue: a bulk add of one real application's
# lockfile (bench/app-deps.toml, pinned by bench/app-deps.lock) into a fresh
# registry, regtool with its catalogue off and on, margo when given, next to the
# floor for the same bytes (bench/floor); then one add into, a reindex of, and
# the whole catalogue of the 100,000-version synthetic registry (bench/gen.py).
# Paired runs, markdown out (bench/compare.py says how they are paired).
#
# usage: bench/compare.sh [WORKDIR]          (default: target/bench)
#   RUNS=7                   paired rounds (after one warm-up round)
#   MARGO=/path/to/margo     also measure margo (built from its repository: see
#                            BENCHMARKS.md); without it, margo is skipped with a note
#   REGTOOL=/path/to/regtool measure that binary (default: a release build of this checkout)
#   SKIP_SYNTH=1             only the bulk add table
#   WAIT_LOAD=1.5            before each round, wait (WAIT_MAX seconds at most,
#   WAIT_MAX=120             default 120) for the 1-minute load average to fall to that
#   SYNTH_CRATES=10000 SYNTH_VERSIONS=10   size of the synthetic registry
# Run it on an otherwise idle machine if you can (e.g. `nice -n -5 bench/compare.sh`
# as root); the load average before every run is reported next to each figure.
# Downloads (once, through cargo, kept in WORKDIR/app/cargo-home): the 443 .crate
# files of the application's graph, about 60 MB. Writes WORKDIR/compare.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
build_regtool
build_floor
fetch_corpus app
margo="${MARGO:-}"
if [ -n "$margo" ]; then
  [ -x "$margo" ] || { echo "compare.sh: MARGO=$margo is not an executable" >&2; exit 1; }
fi
extra=()
[ -z "${WAIT_LOAD:-}" ] || extra+=(--wait-load "$WAIT_LOAD" --wait-max "${WAIT_MAX:-120}")
if [ -n "${SKIP_SYNTH:-}" ]; then
  extra+=(--skip-synth)
  on=/nonexistent off=/nonexistent
else
  off="$(synth_registry off)"
  on="$(synth_registry on)"
  # Back on if an earlier run stopped half-way (prints the settings).
  "$rt" -q --registry "$on" settings --html true > /dev/null
fi
make_one_crate "$work/one"
python3 "$here/compare.py" --regtool "$rt" --floor "$floor" --margo "$margo" \
  --corpus "$work/app/crates" --one "$work/one/bench-one-1.0.0.crate" \
  --synth-on "$on" --synth-off "$off" --work "$work" --runs "${RUNS:-7}" "${extra[@]}"
