//! The registry's key layout: where every object of a registry lives, and how a
//! key is read back. Floor 0 (`core`): imports only [`crate::name`].
//!
//! ```text
//! config.json                        CONFIG_KEY: what cargo reads first
//! 1/a  2/ab  3/a/abc  se/rd/serde    index files: cargo's prefix path of the lowercased name
//! crates/{name}/{name}-{vers}.crate  the .crate files (`config.json`'s `dl` points here)
//! .regtool/config.toml               SETTINGS_KEY: regtool's settings
//! .regtool/lock                      LOCK_KEY: the writers' lock (a folder registry)
//! .regtool/lease                     LEASE_KEY: the writers' lease (a registry in a bucket)
//! .regtool/names/{canonical}         name_claim_key: a crate's spelling, claimed (a bucket)
//! .regtool/tmp/                      TMP_DIR: staging files of a run under way
//! .regtool/nginx-tokens.map          TOKEN_FILE_KEY: the tokens nginx accepts
//! .regtool/owners/{canonical}.json   owners_key: who may change a crate through `serve`
//! ```
//!
//! Keys are relative, `/`-separated, and never hold `.` or `..` components.
//! Only keys shaped like an index file ([`index_key_name`]) are index files:
//! anything else a registry's folder holds (`robots.txt`, `healthz`, the
//! catalogue's pages) is never read or written as one. Keys whose first
//! component starts with `.` are never served to cargo.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files>.

use crate::name::{CrateName, MAX_NAME_LEN};

/// Key of `config.json`.
pub(crate) const CONFIG_KEY: &str = "config.json";
/// Folder of the `.crate` files.
pub(crate) const CRATES_DIR: &str = "crates";
/// Name of regtool's own folder inside a registry (never served).
pub(crate) const STATE_DIR: &str = ".regtool";
/// Key of regtool's settings.
pub(crate) const SETTINGS_KEY: &str = ".regtool/config.toml";
/// Key of the lock file of a folder registry.
pub(crate) const LOCK_KEY: &str = ".regtool/lock";
/// Key of the writers' lease of a registry in object storage.
pub(crate) const LEASE_KEY: &str = ".regtool/lease";
/// Folder of the name claims of a registry in object storage.
pub(crate) const NAMES_DIR: &str = ".regtool/names";
/// Folder of staging files (a copy of an input while it is read).
pub(crate) const TMP_DIR: &str = ".regtool/tmp";
/// Key of the token file nginx reads for a registry that needs a token
/// (`regtool token` writes it, `regtool nginx-config` includes it).
pub(crate) const TOKEN_FILE_KEY: &str = ".regtool/nginx-tokens.map";

/// Folder of the crates' owners (`regtool owner`, `regtool serve`).
pub(crate) const OWNERS_DIR: &str = ".regtool/owners";

/// Key of the owners of `name` (any spelling): `.regtool/owners/{canonical}.json`.
pub(crate) fn owners_key(name: &CrateName) -> String {
    format!("{OWNERS_DIR}/{}.json", name.canonical())
}

/// Key of the index file of `name`: cargo's prefix path of the lowercased
/// name (`1/a`, `2/ab`, `3/a/abc`, `se/rd/serde_json`).
pub(crate) fn index_key(name: &CrateName) -> String {
    index_path(name.as_str())
}

/// Key of the `.crate` of `name` `vers`: `crates/{name}/{name}-{vers}.crate`,
/// the layout `config.json`'s `dl` template points at.
pub(crate) fn crate_key(name: &CrateName, vers: &str) -> String {
    format!("{CRATES_DIR}/{name}/{name}-{vers}.crate")
}

/// Key of the claim of `name`'s spelling (a registry in object storage):
/// `.regtool/names/{canonical}`, the canonical form (lowercase, `_` for `-`)
/// that every spelling of one crate shares.
pub(crate) fn name_claim_key(name: &CrateName) -> String {
    format!("{NAMES_DIR}/{}", name.canonical())
}

/// Index path of any name (see [`index_key`]): cargo's `make_dep_path` on the
/// lowercased name, that is [`prefix`] of it then the name (`""` for `""`).
/// Counts characters, so a name that is not ASCII (never a valid crate name)
/// still gets a path.
pub(crate) fn index_path(name: &str) -> String {
    let n = name.to_lowercase();
    if n.is_empty() {
        return n;
    }
    format!("{}/{n}", prefix(&n))
}

/// The index folder of `name` in the name's own case: `1`, `2`, `3/{first
/// character}`, else `{first two}/{next two}` (`Se/rd` for `Serde_json`; `""`
/// for `""`), counted in characters. Lowercased it is the folder of
/// [`index_path`]; as it is, the `{prefix}` of a `dl` template (and
/// lowercased, its `{lowerprefix}`).
/// Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files>.
pub(crate) fn prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match chars.len() {
        0 => String::new(),
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", part(0..1)),
        _ => format!("{}/{}", part(0..2), part(2..4)),
    }
}

/// The lowercased crate name an index-file key stands for, if `key` is shaped
/// like one: the file name is made of the characters crate names use (lowercase),
/// and the folders are the ones [`index_path`] gives it (`se/rd/serde`). Any other
/// file in a registry (`robots.txt`, `healthz`, `index.html`) is not an index file
/// and regtool never touches it.
pub(crate) fn index_key_name(key: &str) -> Option<&str> {
    let file = key.rsplit('/').next()?;
    let shaped = !file.is_empty()
        && file.len() <= MAX_NAME_LEN
        && file.starts_with(|c: char| c.is_ascii_lowercase())
        && file
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    (shaped && index_path(file) == key).then_some(file)
}

/// Whether `key` is laid out like an index file of some name (the folder
/// *structure* of [`index_path`], as `3/x/foo`), even if its folders do not
/// match the name: `verify` reports such files as misplaced, and nothing else
/// touches them.
pub(crate) fn looks_like_index_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(file) = parts.last() else {
        return false;
    };
    let n = file.chars().count();
    let shape = match (parts.as_slice(), n) {
        ([d, _], 1) => *d == "1",
        ([d, _], 2) => *d == "2",
        ([d, c, _], 3) => *d == "3" && c.chars().count() == 1,
        ([a, b, _], n) if n >= 4 => a.chars().count() == 2 && b.chars().count() == 2,
        _ => false,
    };
    shape
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether the top folder `top` can hold index files (`1`, `2`, `3`, `se`...):
/// one or two characters, and not [`CRATES_DIR`].
pub(crate) fn is_index_folder(top: &str) -> bool {
    top != CRATES_DIR && matches!(top.chars().count(), 1 | 2)
}

/// Every index folder that could hold a name whose canonical form equals `name`'s:
/// the folder part of [`index_path`] with each `-`/`_` in it swapped both ways.
pub(crate) fn sibling_index_dirs(name: &str) -> Vec<String> {
    let path = index_path(name);
    let dir = &path[..path.rfind('/').unwrap_or(0)];
    separator_spellings(dir)
}

/// Every spelling of `text` with each `-`/`_` in it swapped both ways (2^n of
/// them for n separators).
pub(crate) fn separator_spellings(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in text.chars() {
        let options: &[char] = match c {
            '-' | '_' => &['-', '_'],
            _ => &[c],
        };
        out = out
            .iter()
            .flat_map(|p| options.iter().map(move |o| format!("{p}{o}")))
            .collect();
    }
    out
}

/// Whether `key` is one the registry itself owns (`config.json`, regtool's
/// settings and lock, an index-shaped key, a `.crate`): objects that only
/// the registry's own methods write, never a hook or the catalogue.
pub(crate) fn is_registry_key(key: &str) -> bool {
    key == CONFIG_KEY
        || key == SETTINGS_KEY
        || key == LOCK_KEY
        || key == LEASE_KEY
        || key.starts_with(&format!("{NAMES_DIR}/"))
        || key == TOKEN_FILE_KEY
        || key.starts_with(&format!("{OWNERS_DIR}/"))
        || key.starts_with(&format!("{CRATES_DIR}/"))
        || looks_like_index_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("AB"), "2/ab");
        assert_eq!(index_path("Abc"), "3/a/abc");
        assert_eq!(index_path("Serde_json"), "se/rd/serde_json");
        let name = |n| CrateName::new(n).unwrap();
        assert_eq!(index_key(&name("Serde_JSON")), "se/rd/serde_json");
        assert_eq!(index_key(&name("syn")), "3/s/syn");
        assert_eq!(
            crate_key(&name("Serde"), "1.0.0"),
            "crates/Serde/Serde-1.0.0.crate"
        );
        // Never panics, whatever the name.
        assert_eq!(index_path("éa"), "2/éa");
        assert_eq!(index_path("ééé"), "3/é/ééé");
        assert_eq!(index_path(""), "");
        assert_eq!(prefix("Serde_json"), "Se/rd");
        assert_eq!(prefix("Abc"), "3/A");
        assert_eq!(prefix("AB"), "2");
    }

    #[test]
    fn only_index_shaped_keys_are_index_files() {
        assert_eq!(index_key_name("se/rd/serde"), Some("serde"));
        assert_eq!(index_key_name("3/s/syn"), Some("syn"));
        for k in ["1/a", "2/ab", "3/a/abc", "ab/cd/abcd", "a-/b_/a-b_c"] {
            assert!(index_key_name(k).is_some(), "{k}");
        }
        for k in [
            "healthz",
            "robots.txt",
            "index.html",
            "config.json",
            "docs/notes.txt",
            "ab/cd/abce/x",
            "2/abc",
            "ab/ce/abcd",
            "1/1",
            "se/rd/Serde",
        ] {
            assert_eq!(index_key_name(k), None, "{k}");
        }
    }

    #[test]
    fn misplaced_index_files_are_recognised() {
        assert!(looks_like_index_key("3/x/foo"));
        assert!(looks_like_index_key("se/rd/serde"));
        assert!(!looks_like_index_key("catalogue/crates/serde.html"));
        assert!(!looks_like_index_key("robots.txt"));
    }

    #[test]
    fn sibling_dirs_swap_separators() {
        let mut d = sibling_index_dirs("a-b_c");
        d.sort();
        assert_eq!(d, vec!["a-/b-", "a-/b_", "a_/b-", "a_/b_"]);
        assert_eq!(sibling_index_dirs("ab"), vec!["2"]);
    }

    #[test]
    fn registry_keys_are_told_apart() {
        for k in [
            "config.json",
            ".regtool/config.toml",
            "crates/a/a-1.0.0.crate",
            "se/rd/serde",
        ] {
            assert!(is_registry_key(k), "{k}");
        }
        for k in [
            "index.html",
            "catalogue/crates/serde.html",
            ".regtool/catalogue.json",
        ] {
            assert!(!is_registry_key(k), "{k}");
        }
    }
}
