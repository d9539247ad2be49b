"""The sparse index's layout, for the Python tools of .ci/ and bench/.

Imported, not run: `.ci/mirror_corpus.sh` and `bench/mirror-memory.py` put
this folder on sys.path. The Rust side is src/layout.rs (`index_path`).
"""


def index_path(name):
    """The path of crate `name`'s index file (str) below a sparse index's root,
    as cargo asks for it: the lowercased name under its prefix folders (`1/a`,
    `2/ab`, `3/a/abc`, `se/rd/serde_json`). Raises ValueError for "".
    Source: https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files
    """
    n = name.lower()
    if not n:
        raise ValueError("an empty crate name has no index file")
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"
