#!/usr/bin/env bash
# What `regtool serve` costs (issue 21's figures): publish latency (p50/p99) with 1
# and 8 clients at once, on a folder and on moto's S3 server; and index-file GETs per
# second from `serve` against nginx serving the same folder. Run on purpose, never in
# CI. The client is bench/serve_client.py (cargo's publish frame, kept-alive GETs;
# the same client for both servers), not cargo: `cargo publish` adds its own
# packaging and verification to every publish.
#
# usage: bench/serve.sh [WORKDIR]          (default: target/bench)
#   REGTOOL=/path/to/regtool               the binary measured (default: a release build)
#   MOTO_SERVER=/path/to/moto_server       for the bucket figures (skipped without it)
#   PUBLISHES=100 GET_SECONDS=10 GET_CLIENTS=4 HTML=0 (1: the catalogue on)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
build_regtool
client="$here/serve_client.py"
n="${PUBLISHES:-100}"
secs="${GET_SECONDS:-10}"
getc="${GET_CLIENTS:-4}"
html=(--no-html); [ "${HTML:-0}" = 1 ] && html=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.2; done; echo "nothing on :$1" >&2; exit 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
results="$work/serve-results.md"
{ echo "# bench/serve.sh, $(date -u +%FT%TZ)"; echo "uptime at start: $(uptime)"; } > "$results"

# publishes LABEL REGISTRY [regtool args...]: serve REGISTRY, publish N crates with
# 1 client and 2N with 8, print the figures.
publishes() {
  local label="$1" reg="$2"; shift 2
  local port token
  port=$(free_port)
  "$rt" "$@" init "$reg" --url "http://127.0.0.1:$port" --api "http://127.0.0.1:$port" "${html[@]}" >/dev/null 2>&1
  token=$("$rt" "$@" --registry "$reg" --format json token add bench --scope publish-new,publish-update 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  "$rt" "$@" --registry "$reg" serve --listen "127.0.0.1:$port" 2>"$work/serve-$label.log" &
  pids+=($!)
  wait_port "$port"
  for c in 1 8; do
    local count=$((c == 1 ? n : 2 * n))
    echo "publish $label, $c client(s), $count crates: $(python3 "$client" publish "$port" "$token" "$c" "$count" "p$c") | uptime: $(uptime | sed 's/.*load/load/')" | tee -a "$results"
  done
  serve_port="$port"
}

# Folder.
folder="$work/serve-folder"
rm -rf "$folder"
publishes folder "$folder"

# GETs of one index file: serve (still running on the folder) and nginx on the same files.
key=$(python3 -c 'n="p1-0"; print(n if len(n)<3 else ("3/"+n[0]+"/"+n) if len(n)==3 else (n[:2]+"/"+n[2:4]+"/"+n))')
[ -f "$folder/$key" ] || { echo "no index file $folder/$key" >&2; exit 1; }
nport=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nport;
    root $folder;
    location / { default_type text/plain; add_header Cache-Control no-cache; try_files \$uri =404; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$nport"
for who in serve nginx; do
  port=$serve_port; [ $who = nginx ] && port=$nport
  python3 "$client" get "$port" "/$key" "$getc" 1 >/dev/null  # warm-up
  echo "GET /$key from $who, $getc clients, ${secs}s: $(python3 "$client" get "$port" "/$key" "$getc" "$secs") | uptime: $(uptime | sed 's/.*load/load/')" | tee -a "$results"
done

# A bucket on moto.
if [ -n "${MOTO_SERVER:-}" ]; then
  mport=$(free_port)
  "$MOTO_SERVER" -H 127.0.0.1 -p "$mport" > "$work/moto-serve.log" 2>&1 &
  pids+=($!)
  wait_port "$mport"
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL="http://127.0.0.1:$mport" AWS_ALLOW_HTTP=true NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
  curl -s -X PUT "http://127.0.0.1:$mport/bench" >/dev/null
  publishes moto "s3://bench/serve"
else
  echo "MOTO_SERVER not set: no bucket figures" | tee -a "$results"
fi
echo "results in $results"
