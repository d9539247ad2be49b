#!/usr/bin/env bash
# What a registry in an S3 bucket costs (issue 17's figures), on moto's S3 server
# on 127.0.0.1: requests and wall time of one `add` into the 100,000-version
# synthetic registry held in a bucket, and 8 jobs x 25 adds at once into one crate
# (total time, every version there exactly once). Run on purpose, never in CI.
#
# usage: bench/s3.sh [WORKDIR]            (default: target/bench)
#   MOTO_SERVER=/path/to/moto_server       required (.ci/install.sh installs it)
#   REGTOOL=/path/to/regtool               the binary measured (default: a release build)
#   BEFORE=/path/to/regtool                an older binary measured the same way
#                                          (the bucket is filled once, by REGTOOL)
#   RUNS=5 SYNTH_CRATES=10000 SYNTH_VERSIONS=10 JOBS=8 EACH=25
#   ONLY_RACE=1                            only the adds at once (no 100,000-version bucket)
# The registry's catalogue is off (`--no-html`): these figures are the index's and
# the lease's. Requests are counted from moto's request log. moto keeps the bucket in
# memory: filling 100,000 versions takes a few minutes and ~1 GB.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
build_regtool
: "${MOTO_SERVER:?set MOTO_SERVER to moto_server}"
[ -n "${ONLY_RACE:-}" ] || synth="$(synth_registry off)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$work/moto-$port.log"
"$MOTO_SERVER" -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
curl -s -X PUT "http://127.0.0.1:$port/bench" >/dev/null
reg="s3://bench/synth"

# Requests in moto's log so far (werkzeug colours some lines: match the protocol).
requests() { grep -c ' HTTP/1.1' "$log" || true; }

results="$work/s3-results.md"
: > "$results"; : > "$work/s3-requests.md"; : > "$work/s3-race.md"
if [ -z "${ONLY_RACE:-}" ]; then
# In batches: `add` keeps each input's staging file open until it publishes, and
# 100,000 open files are more than a process may have.
"$rt" -q init "$reg" --url "$url" --no-html
timed "fill the bucket: add of $(find "$synth/crates" -name '*.crate' | wc -l) versions (catalogue off), 500 per add" \
  bash -c "find '$synth/crates' -name '*.crate' | sort | xargs -n 500 '$rt' -q --registry '$reg' add"

one="$work/s3-one"
make_one_crate "$one"
existing="$(find "$synth/crates" -name '*.crate' | sort | sed -n 1p)"
name="$(basename "$(dirname "$existing")")"
# A new version of an existing crate: its bytes from gen.py's first crate, renamed.
python3 - "$existing" "$one/$name-99.0.0.crate" "$name" <<'PY'
import gzip, io, sys, tarfile
src, dst, name = sys.argv[1:]
old = tarfile.open(fileobj=io.BytesIO(gzip.decompress(open(src, "rb").read())))
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
    for m in old.getmembers():
        data = old.extractfile(m).read() if m.isfile() else None
        top, _, rest = m.name.partition("/")
        m.name = f"{name}-99.0.0/{rest}" if rest else f"{name}-99.0.0"
        if rest == "Cargo.toml":
            text = data.decode()
            start = text.index('version = "')
            end = text.index('"', start + 11)
            data = (text[:start] + 'version = "99.0.0"' + text[end + 1:]).encode()
            m.size = len(data)
        t.addfile(m, io.BytesIO(data) if data is not None else None)
open(dst, "wb").write(gzip.compress(raw.getvalue(), mtime=0))
PY

for who in after before; do
  bin="$rt"
  if [ "$who" = before ]; then
    [ -n "${BEFORE:-}" ] || continue
    bin="$BEFORE"
  fi
  for what in new existing; do
    if [ "$what" = new ]; then
      file="$one/bench-one-1.0.0.crate" spec="bench-one@1.0.0"
    else
      file="$one/$name-99.0.0.crate" spec="$name@99.0.0"
    fi
    "$bin" -q --registry "$reg" remove "$spec" >/dev/null 2>&1 || true
    before_n=$(requests)
    "$bin" -q --registry "$reg" add "$file"
    n=$(( $(requests) - before_n ))
    echo "$who: add of a version of a $what crate: $n requests"
    echo "| $who | $what crate | $n requests |" >> "$work/s3-requests.md"
    grep ' HTTP/1.1' "$log" | tail -n "$n" | grep -o '[A-Z]* /bench[^ ]*' >&2 || true
    "$bin" -q --registry "$reg" remove "$spec"
    bench_one "$results" "$who: add of 1 version of a $what crate into the 100,000-version bucket" \
      "'$bin' -q --registry '$reg' remove '$spec' >/dev/null 2>&1 || true" \
      "'$bin' -q --registry '$reg' add '$file'"
  done
done

fi

# 8 jobs x 25 adds at once into one crate's index file.
jobs="${JOBS:-8}" each="${EACH:-25}"
race="$work/s3-race"
rm -rf "$race" && mkdir -p "$race"
for p in $(seq 0 $((jobs - 1))); do
  make_crates "$race" hammer $(for i in $(seq 0 $((each - 1))); do echo "$p.$i.0"; done)
done
for who in after before; do
  bin="$rt"
  if [ "$who" = before ]; then
    [ -n "${BEFORE:-}" ] || continue
    bin="$BEFORE"
  fi
  r="s3://bench/race-$who"
  "$bin" -q init "$r" --url "$url" --no-html
  start=$(date +%s.%N)
  pids=()
  for p in $(seq 0 $((jobs - 1))); do
    ( for i in $(seq 0 $((each - 1))); do "$bin" -q --registry "$r" add "$race/hammer-$p.$i.0.crate" || echo "FAILED $p.$i.0"; done ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s.%N)
  lines=$(curl -s -H "Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0" \
    "http://127.0.0.1:$port/bench/race-$who/ha/mm/hammer" | python3 -c 'import json, sys; v = [json.loads(l)["vers"] for l in sys.stdin]; print(f"{len(v)} lines, {len(set(v))} versions")')
  echo "| $who | $jobs x $each adds at once | $(python3 -c "print(f'{$end - $start:.1f} s')") | $lines (of $((jobs * each))) |" >> "$work/s3-race.md"
  "$rt" --registry "$r" verify | tail -1
done
echo
cat "$work/s3-requests.md" "$results" "$work/s3-race.md" 2>/dev/null
