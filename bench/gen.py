#!/usr/bin/env python3
"""Synthetic registry generator for the benchmarks.

usage: bench/gen.py REGISTRY CRATES VERSIONS URL

Writes CRATES x VERSIONS small generated .crate files straight into
REGISTRY/crates/{name}/{name}-{version}.crate (REGISTRY must come from
`regtool init --url URL`); `regtool reindex REGISTRY` then builds the index.
Names are spread over the index folders like real ones; every crate but the
first depends on an earlier one in the same registry, and has features.
Deterministic: the same arguments give the same bytes.
"""
import gzip, hashlib, io, os, sys, tarfile

root, n_crates, n_versions, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def name_of(i):
    return "s" + hashlib.sha1(str(i).encode()).hexdigest()[:11]


def crate_bytes(name, vers, dep):
    top = f"{name}-{vers}"
    manifest = (
        f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{vers}"\n'
        f'description = "synthetic crate"\nlicense = "MIT"\n\n[lib]\npath = "src/lib.rs"\n\n'
        '[features]\ndefault = ["std"]\nstd = []\n'
    )
    if dep:
        manifest += f'\n[dependencies.{dep}]\nversion = "^0.1"\nregistry-index = "sparse+{url}/"\n'
    lib = f"//! {name} {vers}\npub fn value() -> u64 {{ {len(name) * 7} }}\n" * 8
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data in ((f"{top}/Cargo.toml", manifest), (f"{top}/src/lib.rs", lib)):
            data = data.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


for i in range(n_crates):
    name = name_of(i)
    dep = name_of(i // 2) if i else None
    folder = os.path.join(root, "crates", name)
    os.makedirs(folder, exist_ok=True)
    for v in range(n_versions):
        vers = f"0.1.{v}"
        with open(os.path.join(folder, f"{name}-{vers}.crate"), "wb") as f:
            f.write(crate_bytes(name, vers, dep))
print(f"{n_crates * n_versions} crates written under {root}/crates")
