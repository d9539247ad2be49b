#!/usr/bin/env bash
# The mirror's checks refuse no real crate (issue 18). A corpus (corpus.sh's
# OUT_DIR: crates/*.crate and expected.jsonl, crates.io's line for each) is
# served as an upstream sparse registry on 127.0.0.1 by python3's
# http.server, and `regtool mirror` copies every version of it into a new
# --mirror registry, from a Cargo.lock that names them all with their
# checksums, as a project's lockfile does. Every version must be mirrored
# (none refused: the lines pass mirror's checks, the .crate files the archive
# checks of `add`), and each index file must be upstream's, byte for byte.
#
#   .ci/mirror_corpus.sh CORPUS_DIR [REGTOOL]
#
# REGTOOL defaults to target/debug/regtool. Prints `N mirrored, N refused`;
# exits 1 on a refusal or a difference.
set -euo pipefail
corpus="$(cd "$1" && pwd)"
regtool="$(realpath "${2:-target/debug/regtool}")"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 - "$corpus" "$work/upstream" "$work/Cargo.lock" "$port" "$(cd "$(dirname "$0")" && pwd)" <<'PY'
import json, os, shutil, sys
corpus, up, lock, port, ci = sys.argv[1:6]
sys.path.insert(0, ci)
from sparse_index import index_path

files, packages = {}, []
for text in open(os.path.join(corpus, "expected.jsonl")):
    if not text.strip():
        continue
    line = json.loads(text)
    name, vers = line["name"], line["vers"]
    src = os.path.join(corpus, "crates", f"{name}-{vers}.crate")
    if not os.path.exists(src):
        src = os.path.join(corpus, "crates", f"{name.lower()}-{vers}.crate")
    dst = os.path.join(up, "dl", name, f"{name}-{vers}.crate")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    files.setdefault(index_path(name), []).append(json.dumps(line, separators=(",", ":")))
    packages.append((name, vers, line["cksum"]))
for path, lines in files.items():
    os.makedirs(os.path.join(up, os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(up, path), "w") as f:
        f.write("".join(l + "\n" for l in lines))
with open(os.path.join(up, "config.json"), "w") as f:
    json.dump({"dl": f"http://127.0.0.1:{port}/dl/{{crate}}/{{crate}}-{{version}}.crate"}, f)
with open(lock, "w") as f:
    f.write("version = 4\n")
    for name, vers, cksum in packages:
        f.write(f'\n[[package]]\nname = "{name}"\nversion = "{vers}"\n'
                f'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
                f'checksum = "{cksum}"\n')
PY

python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/upstream" >"$work/server.log" 2>&1 &
server=$!
python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit("the upstream server did not start")
PY

"$regtool" -q init "$work/mirror" --url http://127.0.0.1:1 --mirror
status=0
NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 "$regtool" -q --registry "$work/mirror" --format json \
  mirror --upstream "sparse+http://127.0.0.1:$port/" --jobs 4 "$work/Cargo.lock" \
  >"$work/report.json" 2>"$work/mirror.log" || status=$?
# On a failure, mirror's own words too: the tail of its stderr (its log).
failed() {
  echo "mirror's stderr (last 40 lines):" >&2
  tail -n 40 "$work/mirror.log" >&2
  exit 1
}
python3 - "$work/report.json" "$work/upstream" "$work/mirror" "$status" <<'PY' || failed
import json, os, sys
report_path, up, mirror, status = sys.argv[1:5]
try:
    report = json.load(open(report_path))
except ValueError:
    sys.exit(f"mirror exited {status} without a report:\n" + open(report_path).read())
counts = {}
for v in report["versions"]:
    counts[v["status"]] = counts.get(v["status"], 0) + 1
    if v["status"] != "mirrored":
        print(f"{v['name']} {v['vers']}: {v['status']}: {v.get('reason')}")
bad = 0
for dirpath, _, names in os.walk(up):
    for n in names:
        rel = os.path.relpath(os.path.join(dirpath, n), up)
        if rel == "config.json" or rel.startswith("dl" + os.sep):
            continue
        mine = os.path.join(mirror, rel)
        if not os.path.exists(mine) or open(mine, "rb").read() != open(os.path.join(up, rel), "rb").read():
            print(f"{rel}: not upstream's bytes")
            bad += 1
refused = len(report["versions"]) - counts.get("mirrored", 0)
print(f"{counts.get('mirrored', 0)} mirrored, {refused} refused, {bad} index files differ")
sys.exit(1 if refused or bad or status != "0" else 0)
PY
