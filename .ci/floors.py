#!/usr/bin/env python3
"""Checks that regtool's modules import only downward, floor by floor.

Every module of the library (`src/`) stands on a floor (the table below).
A module may use a module of its own floor or of a lower one, never one of a
higher floor; and within a floor the modules must not use each other in a
circle. This script resolves every path in `src/` that starts with `crate::`,
`$crate::`, `super::`, `self::`, the name of a child module or a name a `use` brought
in (in `use` trees with their `{...}` groups, `pub use`, expressions, types,
attributes and macro bodies alike) to the module it names, following `use`
and `pub use` re-exports, and fails (exit 1) on:

  - an upward import: `FILE:LINE: upward import: A (floor N) uses B (floor M)`;
  - a circle within a floor: each edge of it with its `FILE:LINE`;
  - a module the table does not place.

Comments and string literals are not code and are skipped (a doc link that
points up, such as "used by the registry", is no import). Test modules
(`#[cfg(test)] mod tests`) are checked like the rest. `src/main.rs` is the
binary on top of every floor and is not checked.

A table entry names a module and everything below it (`storage` covers
`storage::local::fs`), which then counts as one module for circles; an
entry ending in `::*` makes each child its own module (`ops::*`: `ops::add`,
`ops::find`...), so circles between commands are found too.

    python3 .ci/floors.py [SRC]       check SRC (default: src/ beside .ci/)
    python3 .ci/floors.py --self-test plant bad imports in a copy of src/
                                      and check that each one is caught

Standard library only (python3 >= 3.8).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# The floors, lowest first: (name, modules). Keep in step with src/lib.rs.
FLOORS = [
    ("core", ["error", "name", "index", "config", "layout", "output"]),
    ("input", ["crate_file", "manifest", "meta", "reader", "lockfile", "http", "upstream"]),
    ("storage", ["storage"]),
    ("registry", ["registry"]),
    ("catalogue", ["catalogue"]),
    ("commands", ["ops::*", "location"]),
    ("command line", ["cli", "report"]),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- reading Rust source: tokens without comments and strings ---------------

TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|\S")


def strip(text):
    """`text` with comments and string/char literals blanked (newlines kept,
    so line numbers stay right)."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:])) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(blank(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', b'x'), else a lifetime.
            m = re.match(r"'(\\u\{[0-9A-Fa-f]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(blank(m.group(0)))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokens(text):
    """[(token, line)] of stripped source."""
    out = []
    for lineno, line in enumerate(strip(text).split("\n"), 1):
        for m in TOKEN.finditer(line):
            out.append((m.group(0), lineno))
    return out


# --- the crate's modules ----------------------------------------------------


class Module:
    def __init__(self, path, file):
        self.path = path  # tuple of segments, () for the crate root
        self.file = file
        self.children = set()
        # Names brought in by `use` (any visibility: a child module sees its
        # parent's private imports): name -> (path segments, module written in).
        self.imports = {}


def file_module(src, rel):
    """Module path of a file relative to `src`, or None (the binary)."""
    parts = rel.replace(os.sep, "/")[: -len(".rs")].split("/")
    if parts == ["lib"]:
        return ()
    if parts == ["main"]:
        return None
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def scan(src):
    """Reads every module of `src`: returns (modules by path, [(module, tokens)])."""
    modules, bodies = {}, []
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, src)
            path = file_module(src, rel)
            if path is None:
                continue
            with open(full, encoding="utf-8") as fh:
                toks = tokens(fh.read())
            modules.setdefault(path, Module(path, rel))
            bodies.append((path, rel, toks))
    # Inline modules, child declarations and re-exports, with each token's module.
    scoped = []
    for path, rel, toks in bodies:
        stack = [(path, -1)]  # (module, brace depth at which it closes)
        depth = 0
        where = []
        for k, (t, line) in enumerate(toks):
            cur = stack[-1][0]
            where.append(cur)
            if t == "mod" and k + 1 < len(toks) and re.match(r"[A-Za-z_]", toks[k + 1][0]):
                name = toks[k + 1][0]
                modules[cur].children.add(name)
                nxt = toks[k + 2][0] if k + 2 < len(toks) else ""
                if nxt == "{":
                    child = cur + (name,)
                    modules.setdefault(child, Module(child, rel))
                    stack.append((child, depth + 1))
            elif t == "{":
                depth += 1
                # the `{` of an inline `mod x {` opens it: the module starts after
            elif t == "}":
                if stack[-1][1] == depth and len(stack) > 1:
                    stack.pop()
                depth -= 1
        scoped.append((path, rel, toks, where))
    for path, rel, toks, where in scoped:
        for k, (t, _) in enumerate(toks):
            if t == "use":
                for segs, _line, name in use_tree(toks, k + 1):
                    if name not in ("*", "self", "_"):
                        modules[where[k]].imports[name] = (segs, where[k])
    return modules, scoped


def use_tree(toks, k):
    """The paths of the `use` tree starting at token `k`, up to its `;`:
    [(segments, line, name)]. `a::{b, c::{self, d}}` gives `a::b`, `a::c::self`
    and `a::c::d`; `name` is what the path is known by here (its last
    segment, or the `as` alias)."""
    end = k
    while end < len(toks) and toks[end][0] != ";":
        end += 1
    sub = toks[k:end]
    out = []

    def tree(i, prefix):
        if i >= len(sub):
            return i
        t, line = sub[i]
        if t == "{":
            i += 1
            while i < len(sub) and sub[i][0] != "}":
                i = tree(i, prefix)
                if i < len(sub) and sub[i][0] == ",":
                    i += 1
            return i + 1
        if t == "*":
            out.append((prefix + ["*"], line, "*"))
            return i + 1
        if t == "::":  # a leading `::`: an extern crate
            return tree(i + 1, prefix)
        segs = prefix + [t]
        i += 1
        while i + 1 < len(sub) and sub[i][0] == "::":
            nxt = sub[i + 1][0]
            if nxt in ("{", "*"):
                return tree(i + 1, segs)
            segs = segs + [nxt]
            i += 2
        if i + 1 < len(sub) and sub[i][0] == "as":
            out.append((segs, line, sub[i + 1][0]))
            return i + 2
        out.append((segs, line, segs[-1]))
        return i

    tree(0, [])
    return out


# --- resolving a path to a module -------------------------------------------

STARTS = {"crate", "$crate", "super", "self"}


def resolve(modules, here, segs, seen=None):
    """The module a path written in module `here` names, or None when it
    leaves the crate (std, a dependency)."""
    seen = seen or set()
    if not segs:
        return here
    first = segs[0]
    if first in ("crate", "$crate"):
        base, rest = (), segs[1:]
    elif first == "super":
        base, rest = here, segs
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif first == "self":
        base, rest = here, segs[1:]
    elif first in modules[here].children:
        base, rest = here, segs
    elif first in modules[here].imports and (here, first) not in seen:
        seen.add((here, first))
        target, written_in = modules[here].imports[first]
        return resolve(modules, written_in, list(target) + segs[1:], seen)
    else:
        return None
    while rest:
        seg = rest[0]
        if base + (seg,) in modules:
            base, rest = base + (seg,), rest[1:]
            continue
        m = modules.get(base)
        key = (base, seg)
        if m and seg in m.imports and key not in seen:
            # An item `use`d (or re-exported) there: follow it.
            seen.add(key)
            target, written_in = m.imports[seg]
            return resolve(modules, written_in, list(target) + rest[1:], seen)
        break
    return base


def paths(toks, where, modules):
    """Every path of one file: [(segments, line, module it is written in)]."""
    out = []
    k = 0
    while k < len(toks):
        t, line = toks[k]
        prev = toks[k - 1][0] if k else ""
        if t == "use":
            for segs, l, _ in use_tree(toks, k + 1):
                out.append((segs, l, where[k]))
            while k < len(toks) and toks[k][0] != ";":
                k += 1
            continue
        m = modules[where[k]]
        starts = t in STARTS or t in m.children or t in m.imports
        if starts and prev != "::" and k + 1 < len(toks) and toks[k + 1][0] == "::":
            # `pub(in crate::x)` is a visibility, not a use.
            if prev == "in" and k >= 2 and toks[k - 2][0] == "(":
                k += 1
                continue
            segs = [t]
            j = k + 1
            while j + 1 < len(toks) and toks[j][0] == "::" and re.match(r"\$?[A-Za-z_]", toks[j + 1][0]):
                segs.append(toks[j + 1][0])
                j += 2
            if j + 1 < len(toks) and toks[j][0] == "::" and toks[j + 1][0] == "{":
                # a group outside a `use` (macro bodies): read it as a use tree
                for sub, l, _ in use_tree(toks, j + 1):
                    out.append((segs + sub, l, where[k]))
            else:
                out.append((segs, line, where[k]))
            k = j
            continue
        k += 1
    return out


# --- floors -----------------------------------------------------------------


def unit_of(path):
    """(unit name, floor index, floor name) of a module, or None if no entry
    of the table places it. The most specific entry wins."""
    best = None
    for floor, (fname, entries) in enumerate(FLOORS):
        for e in entries:
            star = e.endswith("::*")
            base = tuple(e[:-3].split("::")) if star else tuple(e.split("::"))
            if path[: len(base)] != base:
                continue
            unit = base if not star or len(path) == len(base) else path[: len(base) + 1]
            score = len(base) + (1 if star else 0)
            if best is None or score > best[0]:
                best = (score, "::".join(unit), floor, fname)
    return best[1:] if best else None


def check(src):
    """Checks `src`; returns the list of problems (strings)."""
    modules, scoped = scan(src)
    problems = []
    unplaced = set()
    edges = {}  # (from unit, to unit) -> (file, line)
    for path, rel, toks, where in scoped:
        if path == ():
            continue  # lib.rs: module declarations and re-exports only
        for segs, line, here in paths(toks, where, modules):
            target = resolve(modules, here, segs)
            if target is None or target == ():
                continue
            a, b = unit_of(here), unit_of(target)
            for p, u in ((here, a), (target, b)):
                if u is None and p not in unplaced:
                    unplaced.add(p)
                    problems.append(
                        f"src/{rel}:{line}: module `{'::'.join(p)}` has no floor: add it to FLOORS in .ci/floors.py"
                    )
            if a is None or b is None or a[0] == b[0]:
                continue
            if b[1] > a[1]:
                problems.append(
                    f"src/{rel}:{line}: upward import: {a[0]} (floor {a[1]}, {a[2]}) uses {b[0]} (floor {b[1]}, {b[2]}) via `{'::'.join(segs)}`"
                )
            elif b[1] == a[1]:
                edges.setdefault((a[0], b[0]), (f"src/{rel}", line))
    # Every file module must be placed, used or not.
    for path, rel, _, _ in scoped:
        if path != () and unit_of(path) is None and path not in unplaced:
            unplaced.add(path)
            problems.append(f"src/{rel}:1: module `{'::'.join(path)}` has no floor: add it to FLOORS in .ci/floors.py")
    problems.extend(cycles(edges))
    return problems


def cycles(edges):
    """Circles in the graph of same-floor uses (Tarjan's strongly connected
    components), each with the place of every edge in it."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:
        inside = sorted((a, b) for (a, b) in edges if a in comp and b in comp)
        detail = "; ".join(f"{a} uses {b} ({f}:{l})" for a, b in inside for f, l in [edges[(a, b)]])
        f, l = edges[inside[0]]
        out.append(f"{f}:{l}: import cycle within a floor between {', '.join(comp)}: {detail}")
    return out


# --- self-test --------------------------------------------------------------

# (what, file, text appended, words the failure must name)
PLANTS = [
    ("an upward path in an expression", "name.rs",
     "\nfn _planted() -> usize { crate::catalogue::FEED_LEN }\n",
     ["src/name.rs:", "upward import", "name (floor 0", "catalogue (floor 4"]),
    ("an upward `use` group", "index.rs",
     "\nuse crate::{error as _e, registry::Registry as _R};\n",
     ["src/index.rs:", "upward import", "index (floor 0", "registry (floor 3"]),
    ("an upward `pub use`", "layout.rs",
     "\npub use crate::ops::list as _planted;\n",
     ["src/layout.rs:", "upward import", "layout (floor 0", "ops::list (floor 5"]),
    ("an upward `super::super::super::` path", "storage/local/fs.rs",
     "\nfn _planted() -> usize { super::super::super::registry::BATCH_SYNC_MIN }\n",
     ["src/storage/local/fs.rs:", "upward import", "storage (floor 2", "registry (floor 3"]),
    ("an upward path in a macro body", "config.rs",
     "\nmacro_rules! planted { () => { $crate::location::open }; }\n",
     ["src/config.rs:", "upward import", "config (floor 0", "location (floor 5"]),
    ("an upward path through a re-export", "manifest.rs",
     "\nfn _planted(_: &crate::PlantedRegistry) {}\n",
     ["src/manifest.rs:", "upward import", "manifest (floor 1", "registry (floor 3"]),
    ("an upward path in a test module", "crate_file.rs",
     "\n#[cfg(test)]\nmod planted_tests {\n    use crate::cli::Cli as _C;\n}\n",
     ["src/crate_file.rs:", "upward import", "crate_file (floor 1", "cli (floor 6"]),
    ("a cycle within a floor", "layout.rs",
     "\nfn _planted() { let _ = crate::output::Format::Text; }\n",
     ["import cycle within a floor", "layout uses output", "output uses layout"]),
    ("a module without a floor", "lib.rs", "\npub mod planted;\n",
     ["module `planted` has no floor"]),
]
# Extra files some plants need: (plant index, file, text).
EXTRA = {
    5: [("lib.rs", "\npub use registry::Registry as PlantedRegistry;\n")],
    7: [("output.rs", "\nfn _planted() { let _ = crate::layout::CONFIG_KEY; }\n")],
    8: [("planted.rs", "//! planted\npub fn f() {}\n")],
}


def self_test():
    failures = 0
    with tempfile.TemporaryDirectory(prefix="regtool-floors-") as tmp:
        clean = os.path.join(tmp, "clean")
        shutil.copytree(os.path.join(ROOT, "src"), clean)
        if check(clean):
            print("self-test: the unchanged src/ does not pass; fix that first", file=sys.stderr)
            return 1
        for i, (what, rel, text, words) in enumerate(PLANTS):
            work = os.path.join(tmp, f"plant{i}")
            shutil.copytree(clean, work)
            for f, t in [(rel, text)] + EXTRA.get(i, []):
                with open(os.path.join(work, f), "a", encoding="utf-8") as fh:
                    fh.write(t)
            # Run the script itself, as CI does, on the planted copy.
            r = subprocess.run(
                [sys.executable, os.path.abspath(__file__), work],
                capture_output=True, text=True,
            )
            out = r.stdout + r.stderr
            missing = [w for w in words if w not in out]
            if r.returncode != 1 or missing:
                failures += 1
                print(f"self-test FAILED: {what} ({rel}): exit {r.returncode}, missing {missing}\n{out}", file=sys.stderr)
            else:
                print(f"self-test ok: {what} is caught: {out.strip().splitlines()[0]}")
    if failures:
        return 1
    print(f"self-test: all {len(PLANTS)} planted problems caught")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    src = argv[1] if len(argv) == 2 else os.path.join(ROOT, "src")
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"floors: {len(problems)} problem(s); the floors are in .ci/floors.py (FLOORS) and src/lib.rs", file=sys.stderr)
        return 1
    print("floors: every import goes down or stays on its floor, without a cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
