#!/usr/bin/env bash
# Conformance through S3 (issue 10): the same corpus added into an S3 bucket
# (moto's server on 127.0.0.1) and into a folder, with the same
# SOURCE_DATE_EPOCH, must give the same index files and config.json, byte for
# byte.
#
#   .ci/s3_corpus.sh CRATES_DIR [REGTOOL]
#
# CRATES_DIR holds the .crate files (corpus.sh's OUT_DIR/crates); REGTOOL
# defaults to target/debug/regtool. moto_server comes from $MOTO_SERVER, else
# PATH; the comparison runs in the Python that has boto3 (moto[server]
# installs it beside moto_server). Without them it prints a note and skips,
# except in CI, where it fails. Prints `N passed, N failed`; exits 1 on
# any difference.
set -euo pipefail
crates="$(cd "$1" && pwd)"
regtool="$(realpath "${2:-target/debug/regtool}")"
here="$(cd "$(dirname "$0")" && pwd)"

# Outside CI a note and exit 0; with CI set (to anything but "", 0 or false,
# as tests/it/common/needs.rs reads it) an error.
skip() {
  case "${CI:-}" in "" | 0 | [Ff][Aa][Ll][Ss][Ee]) ;; *)
    echo "error: S3 corpus check: $1 (CI=$CI: it must run)" >&2; exit 1 ;;
  esac
  echo "note: S3 corpus check skipped: $1"; exit 0
}

moto="${MOTO_SERVER:-$(command -v moto_server || true)}"
[ -n "$moto" ] && [ -x "$moto" ] || skip "moto_server not found (set MOTO_SERVER or \`pip install 'moto[server]'\`)"

# The Python beside moto_server (a venv's bin/), the one its #! names, the one
# pyenv runs it with, else python3: the first that imports boto3.
py=""
candidates=("$(dirname "$(readlink -f "$moto")")/python3")
shebang="$(head -n 1 "$moto" | sed -n 's/^#! *//p' | cut -d' ' -f1)"
[ -n "$shebang" ] && candidates+=("$shebang")
if command -v pyenv >/dev/null; then
  real="$(pyenv which moto_server 2>/dev/null || true)"
  [ -n "$real" ] && candidates+=("$(dirname "$real")/python3")
fi
candidates+=("$(command -v python3 || true)")
for c in "${candidates[@]}"; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import boto3' 2>/dev/null; then py="$c"; break; fi
done
[ -n "$py" ] || skip "no Python with boto3 found beside $moto"

work="$(mktemp -d)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset AWS_DEFAULT_REGION AWS_SESSION_TOKEN AWS_PROFILE
# One publication time for both registries, so that `pubtime` matches.
export SOURCE_DATE_EPOCH=1700000000

for _ in $(seq 1 600); do
  "$py" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done
"$py" "$here/s3_corpus.py" create-bucket corpus

for reg in "s3://corpus/reg" "$work/folder"; do
  "$regtool" -q init "$reg" --url http://127.0.0.1:8000
  "$regtool" -q --registry "$reg" add "$crates"
done
"$py" "$here/s3_corpus.py" compare corpus reg "$work/folder"
