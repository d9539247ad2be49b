//! File-tree snapshots.

use super::*;

/// Every file and folder under a root (paths relative, `/`-separated; folders
/// end in `/`) with the bytes of each file (a symlink: `symlink -> TARGET`),
/// except `.regtool/lock`, which any command may create.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// The [`Tree`] under `root` without the catalogue (`catalogue/`, regtool's
/// `index.html` and `feed.atom`, its state and stored metadata under
/// `.regtool/`), which `tests/it/catalogue.rs` checks: the index and the
/// `.crate` files as the other tests expect them.
pub fn tree(root: &Path) -> Tree {
    let mut t = tree_all(root);
    t.retain(|k, _| {
        !(k.starts_with("catalogue/")
            || k.starts_with(".regtool/meta/")
            || k.starts_with(".regtool/catalogue")
            || ((k == "index.html" || k == "feed.atom") && is_catalogue_file(&root.join(k))))
    });
    t
}

/// The [`Tree`] under `root` (empty if `root` does not exist), every file.
pub fn tree_all(root: &Path) -> Tree {
    fn walk(base: &Path, dir: &Path, out: &mut Tree) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(base, &path, out);
            } else if rel == ".regtool/lock" {
                continue;
            } else if ft.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                let mut v = b"symlink -> ".to_vec();
                v.extend_from_slice(target.to_string_lossy().as_bytes());
                out.insert(rel, Some(v));
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = Tree::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// Panics, listing the paths that differ, unless `actual` is `expected`.
#[track_caller]
pub fn assert_tree_eq(expected: &Tree, actual: &Tree, what: &str) {
    if expected == actual {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => diff.push(format!("missing: {k}")),
            Some(w) if w != v => diff.push(format!("changed: {k}")),
            _ => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) {
            diff.push(format!("unexpected: {k}"));
        }
    }
    panic!(
        "{what}: the registry is not as expected:\n  {}",
        diff.join("\n  ")
    );
}
