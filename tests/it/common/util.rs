//! Small utilities.

use super::*;

/// Lower-case hex SHA-256 of `bytes` (the form the index's `cksum` and
/// Cargo.lock's `checksum` use).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The path of a crate's file in a sparse index, relative to the index
/// root (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd...`), lower-cased as Cargo
/// requests it.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.len() {
        0 => panic!("empty crate name"),
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    }
}

/// Reads and parses the index file of `name` in registry `dir` (one JSON
/// object per line).
pub fn read_index_lines(dir: &Path, name: &str) -> Vec<serde_json::Value> {
    let path = dir.join(index_path(name));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read index file {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad index line in {}: {e}\n{l}", path.display()))
        })
        .collect()
}

/// Whether `path` (at the registry's top) is the catalogue's `index.html` or
/// `feed.atom`: written by regtool (it carries regtool's generator mark).
pub fn is_catalogue_file(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default();
    (name == "index.html" || name == "feed.atom")
        && fs::read_to_string(path).is_ok_and(|t| {
            t.contains(regtool::catalogue::HTML_MARK) || t.contains(regtool::catalogue::FEED_MARK)
        })
}

/// A fresh temporary directory (removed when dropped).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("regtool-test-")
        .tempdir()
        .expect("create temp dir")
}

/// A process's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A process's stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's stdout parsed as one JSON document (panics, showing the
/// output, if it is not one).
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", describe_output(out)))
}

/// Every index file under `root` (not `.regtool/`, `crates/`, `config.json` or
/// dot files), relative paths with `/`, sorted.
pub fn index_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(e.depth() == 1
                && (n == ".regtool"
                    || n == "crates"
                    || n == "config.json"
                    || n == "catalogue"
                    || is_catalogue_file(e.path())))
        })
    {
        let e = e.expect("walk the registry");
        let n = e.file_name().to_string_lossy();
        if e.file_type().is_file() && !n.starts_with('.') {
            let rel = e.path().strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out
}
