#!/usr/bin/env python3
"""README rendering time against README size (issue 18: nested blockquotes or
<div>s took quadratic time, minutes for 512 KiB, while holding the registry's
lock).

usage: bench/readme.py REGTOOL WORKDIR [RUNS]

For each kind of README (nested blockquotes `>>>>...`, nested `<div>`s,
ordinary prose: this repository's README.md repeated) and each size (64 KiB
to 512 KiB), builds a one-crate `.crate` whose README that is, then times
`regtool add` of it into a fresh registry (catalogue on; `init` untimed; the
minimum of RUNS runs, default 3). Prints a markdown table: wall time per run
and per KiB, so that linear time shows as a flat column.
"""
import gzip, io, os, shutil, subprocess, sys, tarfile, time

regtool, work = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
here = os.path.dirname(os.path.abspath(__file__))
prose = open(os.path.join(here, "..", "README.md"), encoding="utf-8").read()


def readme(kind, size):
    if kind == "nested blockquotes":
        text = ">" * (size - 3) + " x\n"
    elif kind == "nested <div>s":
        text = "<div>" * (size // 5)
    else:
        whole = (prose * (size // len(prose) + 1)).encode()[:size]
        return whole.decode("utf-8", "ignore").encode()
    return text.encode()


def crate(name, text):
    top = f"{name}-1.0.0"
    files = {
        f"{top}/Cargo.toml": (
            f'[package]\nname = "{name}"\nversion = "1.0.0"\nedition = "2021"\n'
            'readme = "README.md"\n\n[lib]\npath = "src/lib.rs"\n'
        ).encode(),
        f"{top}/src/lib.rs": b"",
        f"{top}/README.md": text,
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


os.makedirs(work, exist_ok=True)
print("| README | size | `regtool add`, min of %d | per KiB | shown as |" % runs)
print("| --- | ---: | ---: | ---: | --- |")
for kind in ("nested blockquotes", "nested <div>s", "ordinary prose"):
    for kib in (64, 128, 256, 512):
        path = os.path.join(work, "readme-1.0.0.crate")
        with open(path, "wb") as f:
            f.write(crate("readme", readme(kind, kib * 1024)))
        best = None
        for _ in range(runs):
            reg = os.path.join(work, "reg")
            shutil.rmtree(reg, ignore_errors=True)
            subprocess.run([regtool, "-q", "init", reg, "--url", "http://127.0.0.1:9"],
                           check=True, stdout=subprocess.DEVNULL)
            t = time.monotonic()
            subprocess.run([regtool, "-q", "--registry", reg, "add", path], check=True)
            dt = time.monotonic() - t
            best = dt if best is None else min(best, dt)
        page = open(os.path.join(reg, "catalogue", "crates", "readme.html"), encoding="utf-8").read()
        shown = "text (over the budget)" if 'class="readme-text"' in page else "HTML"
        print(f"| {kind} | {kib} KiB | {best * 1000:,.0f} ms | {best * 1e6 / kib:,.0f} µs | {shown} |")
        sys.stdout.flush()
