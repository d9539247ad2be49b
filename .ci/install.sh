#!/usr/bin/env bash
# Installs what the tests and .ci/run need and this machine lacks: on a fresh
# Debian machine as root (CI's, which has only the Rust toolchain, python3, gcc
# and git) that is all of it; elsewhere it installs nothing it cannot and says
# what is missing (the tests that need it then skip with a note; with CI set
# this fails instead). Tests never install anything: this does.
#
#   .ci/install.sh            # alone
#   . .ci/install.sh          # from .ci/run, which keeps MOTO_SERVER and PATH
#
# Each program a test looks for has one line here; tests/it/common/needs.rs
# names that line in the test's failure and checks it is here.
# Python tools go into venvs under ~/.cache/regtool-ci/, whose bin/ folders are
# added at the end of PATH (python3 stays the system's); MOTO_SERVER is exported.
set -euo pipefail

# CI is set to anything but "", 0 or false (tests/it/common/needs.rs reads it alike).
in_ci() { case "${CI:-}" in "" | 0 | [Ff][Aa][Ll][Ss][Ee]) return 1 ;; *) return 0 ;; esac; }
# skip_or_fail WHAT: outside CI a note that WHAT is skipped; in CI an error
# (the tests' rule). .ci/run uses it too.
skip_or_fail() {
  if in_ci; then echo "error: $1 (CI=$CI: nothing may be skipped)" >&2; exit 1; fi
  echo "note: $1; skipped"
}

# 1. Debian packages, for the programs that are missing.
packages=()
want() { # want PROGRAM PACKAGE...: install the PACKAGEs unless PROGRAM is found
  local program="$1"
  shift
  command -v "$program" >/dev/null || [ -x "/usr/sbin/$program" ] || packages+=("$@")
}
want nginx nginx                        # tests/it/nginx.rs, doctor.rs, tokens.rs: a real nginx serves the registry
want chromium chromium fonts-liberation # tests/it/catalogue.rs: headless Chromium (its libraries come with it; a font for the screenshots)
want rsync rsync                        # tests/it/ci_recipe.rs: the README's CI job copies with rsync
want xmllint libxml2-utils              # tests/it/catalogue.rs: xmllint judges the feed's XML
want c++ g++                            # fuzz/run.sh: cargo-fuzz builds libFuzzer, which is C++
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv) # the venvs below

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    as_root=(none)
  fi
  if ! command -v apt-get >/dev/null || [ "${as_root[*]}" = none ]; then
    skip_or_fail "cannot install ${packages[*]} (no apt-get, or not root and no sudo): the tests that need them"
  else
    echo "note: installing ${packages[*]} with apt-get"
    # Mirrors fail now and then: three tries, a little apart.
    for try in 1 2 3; do
      if "${as_root[@]}" apt-get update -qq &&
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null; then
        break
      fi
      [ "$try" = 3 ] && { echo "error: apt-get could not install ${packages[*]}" >&2; exit 1; }
      sleep $((try * 15))
    done
  fi
fi

# Headless Chromium must start here, as root too (the test passes --no-sandbox):
# a missing library shows now, not as a failed search.
if command -v chromium >/dev/null; then
  profile="$(mktemp -d)"
  out="$(timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$profile" --dump-dom 'data:text/html,<p>ok</p>' 2>&1 || true)"
  rm -rf "$profile"
  if ! grep -q '<p>ok</p>' <<<"$out"; then
    echo "chromium does not run headless, so tests/it/catalogue.rs will fail:" >&2
    tail -n 5 <<<"$out" >&2
    in_ci && exit 1
  fi
fi

# 2. Python tools, each in a venv of its own (their pinned dependencies differ).
cache="${XDG_CACHE_HOME:-$HOME/.cache}/regtool-ci"
venv() { # venv NAME PROGRAM REQUIREMENT...: PROGRAM from a venv NAME unless on PATH
  local dir="$cache/$1" program="$2"
  shift 2
  if ! [ -x "$dir/bin/$program" ]; then
    command -v "$program" >/dev/null && return 0
    echo "note: installing $* into $dir"
    python3 -m venv "$dir" && "$dir/bin/pip" install -q "$@" ||
      { skip_or_fail "could not install $* into $dir: the tests that need $program"; return 0; }
  fi
  PATH="$PATH:$dir/bin"
}
# tests/it/s3.rs, ci_recipe.rs and .ci/s3_corpus.sh: moto's S3 server on 127.0.0.1
# (5.1 and later answer If-Match / If-None-Match); MOTO_SERVER names it.
if [ -z "${MOTO_SERVER:-}" ]; then
  venv moto moto_server 'moto[server]>=5.1'
  MOTO_SERVER="$(command -v moto_server || true)"
fi
# tests/it/ci_recipe.rs: the README's CI job copies into a bucket with `aws s3`.
venv awscli aws awscli
export MOTO_SERVER PATH

# 3. cargo-fuzz, for fuzz/run.sh (which would install it too).
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked -q cargo-fuzz
