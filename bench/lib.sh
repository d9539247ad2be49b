# Shared by bench/run.sh, bench/compare.sh and bench/mirror.sh (sourced, not run).
# Everything they need is in the repository or fetched into WORKDIR (default
# target/bench): the corpora by bench/corpus.sh (through cargo, from crates.io),
# the synthetic registry by bench/gen.py. hyperfine is the one tool from outside
# (installed with apt-get when missing and run as root).

# bench_init WORKDIR: sets $here (bench/), $repo, $work, $url; checks hyperfine.
bench_init() {
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  repo="$(cd "$here/.." && pwd)"
  work="$(mkdir -p "${1:-$repo/target/bench}" && cd "${1:-$repo/target/bench}" && pwd)"
  url="http://127.0.0.1:8000"
  if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bench: installing hyperfine (Debian's package)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
    else
      echo "bench: hyperfine is needed (apt-get install hyperfine, or cargo install hyperfine)" >&2
      exit 1
    fi
  fi
}

# build_regtool: sets $rt, $REGTOOL if given, else a release build of this checkout.
build_regtool() {
  if [ -n "${REGTOOL:-}" ]; then
    rt="$REGTOOL"
  else
    cargo build --release --locked --manifest-path "$repo/Cargo.toml" -q
    rt="$repo/target/release/regtool"
  fi
}

# build_floor: sets $floor, bench/floor built into target/bench-floor.
build_floor() {
  cargo build --release --locked -q --manifest-path "$here/floor/Cargo.toml" \
    --target-dir "$repo/target/bench-floor"
  floor="$repo/target/bench-floor/release/regtool-bench-floor"
}

# fetch_corpus NAME: NAME-deps.toml beside this file, into $work/NAME (see
# bench/corpus.sh); prints its summary line to stderr.
fetch_corpus() {
  "$here/corpus.sh" "$here/$1-deps.toml" "$work/$1" >&2
}

# make_one_crate DIR: writes DIR/bench-one-1.0.0.crate, a small valid crate
# that no corpus holds (the crate of the "add 1 crate" figures).
make_one_crate() {
  make_crates "$1" bench-one 1.0.0
}

# make_crates DIR NAME VERSION...: writes DIR/NAME-VERSION.crate for each
# VERSION, small valid crates (the same bytes for the same arguments).
make_crates() {
  mkdir -p "$1"
  python3 - "$@" <<'PY'
import gzip, io, sys, tarfile
out, name, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
for vers in versions:
    top = f"{name}-{vers}"
    files = (
        (f"{top}/Cargo.toml", f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{vers}"\n'
         'description = "one crate for the benchmarks"\nlicense = "MIT"\n'.encode()),
        (f"{top}/src/lib.rs", b"pub fn f() {}\n"),
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            t.addfile(info, io.BytesIO(data))
    with open(f"{out}/{top}.crate", "wb") as f:
        f.write(gzip.compress(raw.getvalue(), mtime=0))
PY
}

# synth_registry on|off: prints the path of the synthetic registry of
# SYNTH_CRATES x SYNTH_VERSIONS versions (bench/gen.py, indexed by reindex),
# its catalogue on or off; built once and kept. Both are built from the same
# bytes: "off" first, then a copy with `settings --html true`. The time of each
# first build goes to $work/synth-*.log.
synth_registry() {
  local crates="${SYNTH_CRATES:-10000}" versions="${SYNTH_VERSIONS:-10}"
  local off="$work/synth-$crates-$versions-off" on="$work/synth-$crates-$versions-on"
  if [ ! -f "$off.done" ]; then
    rm -rf "$off"
    "$rt" -q init "$off" --url "$url" --no-html
    python3 "$here/gen.py" "$off" "$crates" "$versions" "$url" >&2
    timed "first reindex of $off (catalogue off: the index only)" \
      "$rt" -q reindex "$off" > "$off.log"
    cat "$off.log" >&2
    touch "$off.done"
  fi
  if [ "$1" = on ] && [ ! -f "$on.done" ]; then
    rm -rf "$on"
    cp -a "$off" "$on"
    timed "catalogue turned on in $on (reads every .crate for its metadata, writes every page)" \
      "$rt" -q --registry "$on" settings --html true > "$on.log"
    cat "$on.log" >&2
    touch "$on.done"
  fi
  if [ "$1" = on ]; then echo "$on"; else echo "$off"; fi
}

# timed LABEL COMMAND...: runs COMMAND (its output to stderr) and prints one
# line: LABEL, wall, user and system seconds, peak resident memory of the
# largest process (getrusage of the children).
timed() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
label, cmd = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
rc = subprocess.run(cmd, stdout=sys.stderr).returncode
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
if rc:
    sys.exit(f"{label}: `{' '.join(cmd)}` exited {rc}")
print(f"{label}: {wall:.2f} s wall, {r.ru_utime:.2f} s user, {r.ru_stime:.2f} s system, "
      f"{r.ru_maxrss / 1024:.1f} MiB peak")
PY
}

# to_trash DIR: prints a shell snippet (for a --prepare) that moves DIR, if it
# exists, into $work/trash instead of deleting it. Deleting a large tree just
# before a timed run slowed that run's file creations about 2x on the machine
# of BENCHMARKS.md (ext4 mounted with online discard); empty_trash deletes it
# all between the measurements.
to_trash() {
  echo "mkdir -p $work/trash && { [ ! -e $1 ] || mv $1 $work/trash/\$(date +%s%N); }"
}

# empty_trash: deletes $work/trash, syncs, and waits 3 seconds (untimed).
empty_trash() {
  rm -rf "$work/trash"
  sync
  sleep 3
}

# bench_one RESULTS NAME PREPARE COMMAND: hyperfine, RUNS runs (default 5)
# after one warm-up, its markdown row appended to RESULTS.
bench_one() {
  local results="$1" name="$2" prepare="$3" command="$4" one
  one="$(mktemp)"
  hyperfine --runs "${RUNS:-5}" --warmup 1 --style basic --time-unit millisecond --export-markdown "$one" \
    -n "$name" --prepare "$prepare" "$command"
  if [ -s "$results" ]; then tail -n +3 "$one" >> "$results"; else cat "$one" >> "$results"; fi
  rm -f "$one"
}
