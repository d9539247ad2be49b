#!/usr/bin/env python3
"""Run the conformance kit's compare.py check on a corpus, less the
differences a file documents as irreproducible (docs/conformance.md). The kit
sits beside the repository, not in it (../shared/conformance/; see
DEVELOPMENT.md, "The conformance corpora").

usage: compare_known.py COMPARE_PY DIFFERENCES [--mirror] EXPECTED_JSONL INDEX_ROOT

DIFFERENCES lists one difference a line, `NAME VERS WHAT CAUSE...`, where
WHAT is a field compare.py checks (`cksum`, `features`, ...) or
`deps:DEP[,DEP...]`: the dependencies of that name. For a listed version the
field (or those dependencies) is left out of both lines, and everything else
is compared as compare.py does. A listed difference that no longer shows is an
error too, so the list cannot go stale. Prints 'N passed, N failed,
N documented differences' and exits 1 if any failed.
"""
import argparse
import collections
import importlib.util
import json
import sys


def load_compare(path):
    spec = importlib.util.spec_from_file_location("compare", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_differences(path):
    known = collections.defaultdict(list)
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        parts = raw.split(None, 3)
        if len(parts) < 4:
            sys.exit(f"{path}:{n}: want `NAME VERS WHAT CAUSE`, got {raw!r}")
        name, vers, what, _cause = parts
        known[(name.lower(), vers)].append(what)
    return known


def without(line, whats):
    line = dict(line)
    for what in whats:
        if what.startswith("deps:"):
            names = set(what[len("deps:"):].split(","))
            line["deps"] = [d for d in line.get("deps", []) if d.get("name") not in names]
        else:
            line.pop(what, None)
    return line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("compare_py")
    ap.add_argument("differences")
    ap.add_argument("expected")
    ap.add_argument("index_root")
    ap.add_argument("--mirror", action="store_true")
    args = ap.parse_args()
    compare = load_compare(args.compare_py)
    known = load_differences(args.differences)
    cache = {}
    passed = failed = documented = 0
    seen = set()
    for raw in open(args.expected, encoding="utf-8"):
        exp = json.loads(raw)
        key = (exp["name"].lower(), exp["vers"])
        got = compare.load_registry_lines(args.index_root, exp["name"], cache).get(exp["vers"])
        if got is None:
            failed += 1
            print(f"{exp['name']} {exp['vers']}: no index line")
            continue
        whats = known.get(key, [])
        if whats:
            seen.add(key)
            if not compare.compare(exp, got, args.mirror):
                failed += 1
                print(f"{exp['name']} {exp['vers']}: listed in {args.differences} but no longer differs")
                continue
            documented += 1
        bad = compare.compare(without(exp, whats), without(got, whats), args.mirror)
        if bad:
            failed += 1
            for field, msg in bad.items():
                print(f"{exp['name']} {exp['vers']}: {field}: {msg[:300]}")
        else:
            passed += 1
    for key in sorted(set(known) - seen):
        failed += 1
        print(f"{key[0]} {key[1]}: listed in {args.differences} but not in the corpus")
    print(f"{passed} passed, {failed} failed, {documented} documented differences")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
