#!/usr/bin/env bash
# Seeds the fuzz corpora from the repository's fixtures:
#   fuzz/corpus/crate_reader/       the small .crate files (under 200 KB)
#   fuzz/corpus/manifest_to_entry/  the Cargo.toml packaged in each of them
#   fuzz/corpus/crate_tar/          their tar archives, uncompressed
#   fuzz/corpus/upstream_index/     index files of `fuzz-me` made of their
#                                   crates.io lines (fixtures/crates-io/expected.jsonl)
#   fuzz/corpus/catalogue/          crate metadata and READMEs (README.md)
# Safe to rerun; existing corpus files are kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
max_bytes="${SEED_MAX_BYTES:-200000}"
crates_dir="$here/corpus/crate_reader"
manifests_dir="$here/corpus/manifest_to_entry"
tars_dir="$here/corpus/crate_tar"
mkdir -p "$crates_dir" "$manifests_dir" "$tars_dir"

n=0
for f in "$root"/fixtures/example/*.crate "$root"/fixtures/crates-io/*.crate; do
    [ -f "$f" ] || continue
    size=$(wc -c <"$f")
    [ "$size" -le "$max_bytes" ] || continue
    base="$(basename "$f" .crate)"
    cp "$f" "$crates_dir/$base.crate"
    # Small tars only: the harness gzips every input, big ones run slowly.
    if [ "$(gzip -dc "$f" | wc -c)" -le "${SEED_MAX_TAR_BYTES:-65536}" ]; then
        gzip -dc "$f" >"$tars_dir/$base.tar"
    fi
    # Every entry of a .crate sits under `{name}-{version}/`.
    if tar -xzOf "$f" "$base/Cargo.toml" >"$manifests_dir/$base.toml" 2>/dev/null; then
        :
    else
        rm -f "$manifests_dir/$base.toml"
        echo "warning: no $base/Cargo.toml in $f" >&2
    fi
    n=$((n + 1))
done
echo "seeded $n crates into $crates_dir, their tars into $tars_dir and their manifests into $manifests_dir"

# Index files for upstream_index: crates.io's lines renamed to the target's
# crate, with the versions it asks for, a line per file and all in one.
index_dir="$here/corpus/upstream_index"
mkdir -p "$index_dir"
python3 - "$root/fixtures/crates-io/expected.jsonl" "$index_dir" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
versions = ["1.0.0", "0.1.0-alpha.1+build.5", "2.3.4"]
out = []
for i, line in enumerate(lines):
    line["name"] = ["fuzz-me", "fuzz_me", "Fuzz-Me"][i % 3]
    line["vers"] = versions[i % len(versions)]
    text = json.dumps(line, separators=(",", ":"))
    out.append(text)
    open(f"{sys.argv[2]}/line-{i}", "w").write(text + "\n")
open(f"{sys.argv[2]}/all", "w").write("\n".join(out) + "\n")
print(f"seeded {len(out) + 1} index files into {sys.argv[2]}")
PY

# The catalogue target: fields split at NUL (see fuzz_targets/catalogue.rs);
# a README with the usual Markdown and raw HTML, and this repository's.
catalogue_dir="$here/corpus/catalogue"
mkdir -p "$catalogue_dir"
printf 'A crate\0# Title\n\n> quote\n\n<div align="center"><img src="https://e.org/x.png"></div>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n\0MIT\0https://github.com/x/y\0https://x.org\0https://docs.rs/x\0a,b\0std\0serde\0^1\0cfg(unix)\0\0\0\0README.md' >"$catalogue_dir/fields"
printf 'desc\0' | cat - "$root/README.md" >"$catalogue_dir/readme"
echo "seeded $catalogue_dir"
