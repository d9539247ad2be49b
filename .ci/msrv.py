#!/usr/bin/env python3
"""The minimum supported Rust version (MSRV) check.

usage: msrv.py [--manifest-path Cargo.toml] [--metadata FILE] [--rustc VERSION]

Fails (exit 1, one line per problem) when
- any package in Cargo.lock declares a `rust-version` newer than ours (the
  root package's `rust-version` in Cargo.toml): a `cargo update` brought in a
  release our users' toolchain cannot build;
- our `rust-version` is newer than the installed rustc, so the claim was never
  built (the only toolchain here is the one Cargo.toml names).

The packages are read from `cargo metadata --locked --format-version 1` (each
has `rust_version`, null when it declares none), or from FILE (`-` for stdin),
which lets the check be shown failing on planted metadata. VERSION defaults to
what `rustc --version` prints. Versions compare as numbers, a missing part
counting as 0 (`1.70` is `1.70.0`). Prints `msrv: ...` with the count checked.
"""

import argparse
import json
import re
import subprocess
import sys


def version(text):
    """`1.70`, `1.70.0` or `rustc 1.95.0 (...)` as a tuple of three numbers."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not m:
        raise ValueError(f"not a Rust version: {text!r}")
    return tuple(int(g or 0) for g in m.groups())


def shown(v):
    return ".".join(map(str, v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest-path", default="Cargo.toml")
    ap.add_argument("--metadata", help="cargo metadata JSON instead of running cargo (- for stdin)")
    ap.add_argument("--rustc", help="the installed rustc's version instead of asking rustc")
    args = ap.parse_args()

    if args.metadata == "-":
        meta = json.load(sys.stdin)
    elif args.metadata:
        with open(args.metadata) as f:
            meta = json.load(f)
    else:
        meta = json.loads(subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1",
             "--manifest-path", args.manifest_path],
            check=True, stdout=subprocess.PIPE, text=True).stdout)
    rustc = version(args.rustc or subprocess.run(
        ["rustc", "--version"], check=True, stdout=subprocess.PIPE, text=True).stdout)

    root_id = (meta.get("resolve") or {}).get("root")
    members = set(meta.get("workspace_members") or [])
    ours = [p for p in meta["packages"] if p["id"] == root_id] or \
        [p for p in meta["packages"] if p["id"] in members]
    if not ours:
        sys.exit("msrv: no root package in the metadata")
    problems = []
    floor = None
    for p in ours:
        if not p.get("rust_version"):
            problems.append(f"{p['name']} declares no rust-version in {p['manifest_path']}")
            continue
        v = version(p["rust_version"])
        floor = v if floor is None else min(floor, v)
        if v > rustc:
            problems.append(f"{p['name']} says rust-version = \"{p['rust_version']}\", "
                            f"newer than the installed rustc {shown(rustc)}: it was never built with it")
    checked = 0
    if floor is not None:
        for p in meta["packages"]:
            if p["id"] in members or not p.get("rust_version"):
                continue
            checked += 1
            if version(p["rust_version"]) > floor:
                problems.append(f"{p['name']} {p['version']} needs rust-version {p['rust_version']}, "
                                f"newer than ours ({shown(floor)}): pin an older release "
                                f"(`cargo update -p {p['name']} --precise ...`) or raise ours")
    for line in problems:
        print(f"msrv: {line}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"msrv: rust-version {shown(floor)} <= rustc {shown(rustc)}; "
          f"{checked} locked packages that declare one ask for no newer")


if __name__ == "__main__":
    main()
