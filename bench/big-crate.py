#!/usr/bin/env python3
"""Peak memory of `regtool add` on a 1 GB .crate (issue: streamed, never read whole).

usage: bench/big-crate.py [REGTOOL] [SIZE_MB]

Writes a .crate holding SIZE_MB (default 1024) of incompressible bytes, so the
.crate itself is about that size, adds it to a fresh registry with the size
limits raised, and prints the wall time and the peak resident memory of the
regtool process (from getrusage). Exits 1 if the peak is 64 MiB or more.
"""
import io, os, resource, shutil, subprocess, sys, tarfile, tempfile, time

regtool = sys.argv[1] if len(sys.argv) > 1 else "target/release/regtool"
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
work = tempfile.mkdtemp(prefix="regtool-big-")
try:
    name, vers = "big-crate", "1.0.0"
    top = f"{name}-{vers}"
    path = os.path.join(work, f"{top}.crate")

    class Random(io.RawIOBase):
        def __init__(self, n):
            self.left = n
        def readable(self):
            return True
        def readinto(self, b):
            n = min(len(b), self.left)
            b[:n] = os.urandom(n)
            self.left -= n
            return n

    manifest = f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{vers}"\n'.encode()
    t0 = time.time()
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(f"{top}/Cargo.toml")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo(f"{top}/data.bin")
        info.size = size_mb << 20
        tar.addfile(info, io.BufferedReader(Random(info.size), 1 << 20))
    size = os.path.getsize(path)
    print(f"wrote {path}: {size / 2**20:.0f} MiB in {time.time() - t0:.1f} s")

    reg = os.path.join(work, "registry")
    subprocess.run([regtool, "-q", "init", reg, "--url", "http://127.0.0.1:8000"], check=True)
    t0 = time.time()
    subprocess.run([regtool, "-q", "--registry", reg, "add", "--max-crate-size", "4GiB",
                    "--max-unpacked-size", "4GiB", path], check=True)
    wall = time.time() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"regtool add: {wall:.2f} s, {size / 2**20 / wall:.0f} MiB/s, peak RSS {peak_kib / 1024:.1f} MiB")
    sys.exit(0 if peak_kib < 64 * 1024 else 1)
finally:
    shutil.rmtree(work)
