#!/usr/bin/env bash
# `regtool mirror` of a large application's Cargo.lock from a local upstream, next
# to `regtool add` of the same .crate files (see BENCHMARKS.md, "mirror").
#
# usage: bench/mirror.sh [WORKDIR]   (default: target/bench; run.sh calls it)
#   RUNS=5       hyperfine runs per command
#   PORT=8731    where the upstream is served on 127.0.0.1
#   REGTOOL=/path/to/regtool   that binary (default: a release build of this checkout)
# The lockfile is bench/app-deps.lock (the graph of bench/app-deps.toml); the
# upstream is a `--mirror` regtool registry holding every crate of it (fetched by
# bench/corpus.sh into WORKDIR/app), served by nginx (python3 -m http.server
# when nginx is missing). Both registries have their catalogue off (`--no-html`),
# so that the figures are those of the index and the .crate files alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
runs="${RUNS:-5}"
port="${PORT:-8731}"
url="http://127.0.0.1:$port"
build_regtool

fetch_corpus app
app="$work/app"
lock="$app/Cargo.lock"
n=$(ls "$app"/crates/*.crate | wc -l)
mb=$(du -sm "$app/crates" | cut -f1)
echo "application graph: $n crates, $mb MB, $(grep -c '^\[\[package\]\]' "$lock") lockfile packages"

up="$work/mirror-upstream"
if [ ! -f "$up.done" ]; then
  rm -rf "$up"
  "$rt" -q init "$up" --mirror --url "$url" --max-crate-size 1GiB --no-html
  "$rt" -q --registry "$up" add "$app/crates"
  touch "$up.done"
fi

srv="$work/mirror-server"
rm -rf "$srv" && mkdir -p "$srv/logs" "$srv/tmp"
if command -v nginx >/dev/null; then
  "$rt" --registry "$up" nginx-config --listen "127.0.0.1:$port" > "$srv/registry.conf"
  types="types { application/json json; }"
  [ -f /etc/nginx/mime.types ] && types="include /etc/nginx/mime.types;"
  cat > "$srv/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
daemon off;
master_process off;
pid $srv/nginx.pid;
error_log $srv/logs/error.log;
events { worker_connections 256; }
http {
    $types
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path $srv/tmp/body;
    proxy_temp_path $srv/tmp/proxy;
    fastcgi_temp_path $srv/tmp/fastcgi;
    uwsgi_temp_path $srv/tmp/uwsgi;
    scgi_temp_path $srv/tmp/scgi;
    include $srv/registry.conf;
}
CONF
  nginx -p "$srv" -c "$srv/nginx.conf" -e "$srv/logs/error.log" &
  server="nginx"
else
  python3 -m http.server --bind 127.0.0.1 --directory "$up" "$port" >/dev/null 2>&1 &
  server="python3 -m http.server"
fi
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "$url/config.json" >/dev/null && break; sleep 0.1; done
curl -sf "$url/config.json" >/dev/null || { echo "the upstream did not come up at $url"; exit 1; }
echo "upstream served by $server at $url"

fresh="$work/mirror-fresh"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
# One checked run first: every crate mirrored, and the mirror equals upstream.
rm -rf "$fresh" && "$rt" -q init "$fresh" --mirror --url "$url" --max-crate-size 1GiB --no-html
"$rt" --registry "$fresh" --format json mirror --upstream "sparse+$url/" "$lock" > "$work/mirror-report.json" 2> "$work/mirror-run.log"
python3 - "$work/mirror-report.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = [v["status"] for v in r["versions"]]
assert st.count("mirrored") == int(sys.argv[2]) == len(st), (len(st), set(st))
print(f"checked run: {len(st)} mirrored, {r['downloaded_bytes']} bytes, {r['requests']} requests")
PY
diff -r -q -x .regtool -x config.json "$up" "$fresh"
empty_trash

results="$work/mirror-results.md"
: > "$results"
init="$(to_trash "$fresh") && $rt -q init $fresh --mirror --url $url --max-crate-size 1GiB --no-html"
bench_one "$results" "mirror of the lockfile ($n crates, $mb MB) from $server on 127.0.0.1" \
  "$init && cat $up/crates/*/*.crate > /dev/null" \
  "$rt -q --registry $fresh mirror --upstream sparse+$url/ $lock"
bench_one "$results" "add of the same $n .crate files" \
  "$init && cat $app/crates/*.crate > /dev/null" \
  "$rt -q --registry $fresh add $app/crates"
bench_one "$results" "mirror again (everything there: no request)" "true" \
  "$rt -q --registry $fresh mirror --upstream sparse+$url/ $lock"
empty_trash
echo
cat "$results"
