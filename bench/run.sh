#!/usr/bin/env bash
# regtool's benchmarks, run on purpose (not in CI): prints each figure next to
# the floor for the same bytes. See BENCHMARKS.md for the figures and how to read them.
#
# usage: bench/run.sh [WORKDIR]      (default: target/bench; ends with bench/mirror.sh)
#   SYNTH_CRATES=10000 SYNTH_VERSIONS=10   size of the synthetic registry
#   RUNS=5                                  hyperfine runs per command
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$(mkdir -p "${1:-$repo/target/bench}" && cd "${1:-$repo/target/bench}" && pwd)"
crates="${SYNTH_CRATES:-10000}"
versions="${SYNTH_VERSIONS:-10}"
runs="${RUNS:-5}"
url="http://127.0.0.1:8000"

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release --locked --manifest-path "$repo/Cargo.toml" -q
rt="$repo/target/release/regtool"

# 1. The conformance corpus: ~250 real crates (~60 MB of .crate files).
corpus="$work/corpus"
if [ ! -f "$corpus/expected.jsonl" ]; then
  "$repo/../shared/conformance/corpus.sh" "$corpus"
fi
n=$(ls "$corpus"/crates/*.crate | wc -l)
mb=$(du -sm "$corpus/crates" | cut -f1)
echo "corpus: $n crates, $mb MB"

# 2. The synthetic registry: CRATES x VERSIONS versions, indexed by reindex.
synth="$work/synth-$crates-$versions"
if [ ! -f "$synth/.done" ]; then
  rm -rf "$synth"
  "$rt" -q init "$synth" --url "$url"
  python3 "$here/gen.py" "$synth" "$crates" "$versions" "$url"
  /usr/bin/time -f "first reindex (builds the index): %e s, %M KB peak" "$rt" -q reindex "$synth"
  touch "$synth/.done"
fi
echo "synthetic registry: $(find "$synth/crates" -name '*.crate' | wc -l) versions"

# One new crate to add into the big registry and into an empty one.
one="$work/one"
rm -rf "$one" && mkdir -p "$one"
python3 - "$one" <<'PY'
import gzip, io, sys, tarfile
top = "bench-one-1.0.0"
m = b'[package]\nedition = "2021"\nname = "bench-one"\nversion = "1.0.0"\n'
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    for p, d in ((f"{top}/Cargo.toml", m), (f"{top}/src/lib.rs", b"pub fn f() {}\n")):
        i = tarfile.TarInfo(p); i.size = len(d); t.addfile(i, io.BytesIO(d))
open(f"{sys.argv[1]}/bench-one-1.0.0.crate", "wb").write(gzip.compress(raw.getvalue(), mtime=0))
PY
empty="$work/empty"
rm -rf "$empty" && "$rt" -q init "$empty" --url "$url"

fresh="$work/fresh"
: > "$work/results.md"
bench() { # bench NAME PREPARE COMMAND
  hyperfine --runs "$runs" --warmup 1 --style basic --export-markdown "$work/one.md" -n "$1" --prepare "$2" "$3"
  if [ -s "$work/results.md" ]; then tail -n +3 "$work/one.md" >> "$work/results.md"; else cat "$work/one.md" >> "$work/results.md"; fi
}
bench "add corpus ($n crates, $mb MB) into a fresh registry" \
  "rm -rf $fresh && $rt -q init $fresh --url $url && cat $corpus/crates/*.crate > /dev/null" \
  "$rt -q --registry $fresh add $corpus/crates"
bench "add 1 crate into the $((crates * versions))-version registry" \
  "$rt -q --registry $synth remove bench-one@1.0.0 2>/dev/null || true" \
  "$rt -q --registry $synth add $one/bench-one-1.0.0.crate"
bench "add 1 crate into an empty registry" \
  "$rt -q --registry $empty remove bench-one@1.0.0 2>/dev/null || true" \
  "$rt -q --registry $empty add $one/bench-one-1.0.0.crate"
bench "reindex the corpus registry" "true" "$rt -q reindex $fresh"
bench "verify the corpus registry" "true" "$rt -q verify $fresh"
bench "reindex the $((crates * versions))-version registry" "true" "$rt -q reindex $synth"
bench "verify the $((crates * versions))-version registry" "true" "$rt -q verify $synth"
bench "floor, 1 core: floor.py (OpenSSL SHA-256 + C zlib)" "true" "python3 $repo/../shared/bench/floor.py $corpus/crates"
bench "floor, 1 core: sha256sum + gzip -dc" "true" \
  "sh -c 'sha256sum $corpus/crates/*.crate >/dev/null && for f in $corpus/crates/*.crate; do gzip -dc \$f; done >/dev/null'"
bench "floor, $(nproc) cores: sha256sum + gzip -dc" "true" \
  "sh -c 'ls $corpus/crates/*.crate | xargs -P$(nproc) -n 16 sha256sum >/dev/null && ls $corpus/crates/*.crate | xargs -P$(nproc) -n 1 gzip -dc >/dev/null'"
echo
cat "$work/results.md"
echo
echo "peak memory, 1 GB .crate:"
python3 "$here/big-crate.py" "$rt"
echo
echo "mirror (bench/mirror.sh):"
"$here/mirror.sh" "$work"
