//! Crate names: crates.io's rules and the index path cargo derives from a name.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files>
//! (the path) and crates.io's publishing rules (`DESIGN.md` §3).

use std::fmt;

/// The longest crate name crates.io accepts, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Names crates.io refuses: Rust's own crates and Windows device names.
const RESERVED: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// A crate name that follows crates.io's rules: an ASCII letter first, then ASCII
/// letters, digits, `-` and `_`; at most [`MAX_NAME_LEN`] characters; not reserved.
///
/// The case is kept as published; [`CrateName::canonical`] gives the form under
/// which two spellings are the same crate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrateName(String);

impl CrateName {
    /// Checks `name` against the rules.
    ///
    /// ```
    /// use regtool::name::CrateName;
    /// assert!(CrateName::new("serde_json").is_ok());
    /// assert!(CrateName::new("1abc").is_err()); // must start with a letter
    /// assert!(CrateName::new("nul").is_err()); // a Windows device name
    /// ```
    ///
    /// # Errors
    /// A sentence naming the rule `name` breaks.
    pub fn new(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        match chars.next() {
            None => return Err("the name is empty".into()),
            Some(c) if !c.is_ascii_alphabetic() => {
                return Err(format!(
                    "the first character must be an ASCII letter, not `{}`",
                    c.escape_default()
                ));
            }
            _ => {}
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{}` is not allowed (only ASCII letters, digits, `-` and `_`)",
                c.escape_default()
            ));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "the name is {} characters long, over the limit of {MAX_NAME_LEN}",
                name.len()
            ));
        }
        let canonical = canonical(name);
        if RESERVED.contains(&canonical.as_str()) {
            return Err(
                "the name is reserved (a Rust standard crate or a Windows device name)".into(),
            );
        }
        Ok(CrateName(name.to_string()))
    }

    /// The name as published.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercase with `-` turned into `_`: two names with the same canonical form are
    /// the same crate.
    pub fn canonical(&self) -> String {
        canonical(&self.0)
    }

    /// The index file's path relative to the registry root, with `/` separators:
    /// cargo's `make_dep_path` on the lowercased name (`1/a`, `2/ab`, `3/a/abc`,
    /// `se/rd/serde`).
    ///
    /// ```
    /// use regtool::name::CrateName;
    /// assert_eq!(CrateName::new("Serde_JSON").unwrap().index_path(), "se/rd/serde_json");
    /// assert_eq!(CrateName::new("syn").unwrap().index_path(), "3/s/syn");
    /// ```
    pub fn index_path(&self) -> String {
        index_path(&self.0)
    }
}

impl fmt::Display for CrateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase with `-` turned into `_` (see [`CrateName::canonical`]).
pub fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Index path of any name (see [`CrateName::index_path`]). Counts characters, so
/// a name that is not ASCII (never a valid crate name) still gets a path.
pub fn index_path(name: &str) -> String {
    let n = name.to_lowercase();
    let chars: Vec<char> = n.chars().collect();
    let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match chars.len() {
        0 => String::new(),
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", part(0..1)),
        _ => format!("{}/{}/{n}", part(0..2), part(2..4)),
    }
}

/// The lowercased crate name an index-file key stands for, if `key` is shaped
/// like one: the file name is made of the characters crate names use (lowercase),
/// and the folders are the ones [`index_path`] gives it (`se/rd/serde`). Any other
/// file in a registry (`robots.txt`, `healthz`, `index.html`) is not an index file
/// and regtool never touches it.
///
/// ```
/// use regtool::name::index_key_name;
/// assert_eq!(index_key_name("se/rd/serde"), Some("serde"));
/// assert_eq!(index_key_name("3/s/syn"), Some("syn"));
/// assert_eq!(index_key_name("robots.txt"), None);
/// assert_eq!(index_key_name("healthz"), None);
/// assert_eq!(index_key_name("se/rd/Serde"), None);
/// ```
pub fn index_key_name(key: &str) -> Option<&str> {
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
pub fn looks_like_index_key(key: &str) -> bool {
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

/// Every index folder that could hold a name whose canonical form equals `name`'s:
/// the folder part of [`index_path`] with each `-`/`_` in it swapped both ways.
pub fn sibling_index_dirs(name: &str) -> Vec<String> {
    let path = index_path(name);
    let dir = &path[..path.rfind('/').unwrap_or(0)];
    let mut out = vec![String::new()];
    for c in dir.chars() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("AB"), "2/ab");
        assert_eq!(index_path("Abc"), "3/a/abc");
        assert_eq!(index_path("Serde_json"), "se/rd/serde_json");
        // Never panics, whatever the name.
        assert_eq!(index_path("éa"), "2/éa");
        assert_eq!(index_path("ééé"), "3/é/ééé");
        assert_eq!(index_path(""), "");
    }

    #[test]
    fn only_index_shaped_keys_are_index_files() {
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
        ] {
            assert_eq!(index_key_name(k), None, "{k}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(CrateName::new("serde-json_2").is_ok());
        assert!(CrateName::new("2serde").is_err());
        assert!(CrateName::new("../../etc").is_err());
        assert!(CrateName::new("").is_err());
        assert!(CrateName::new("nul").is_err());
        assert!(CrateName::new("Std").is_err());
        assert!(CrateName::new(&"a".repeat(65)).is_err());
        assert!(CrateName::new(&"a".repeat(64)).is_ok());
        assert!(CrateName::new("héllo").is_err());
    }

    #[test]
    fn canonical_folds_case_and_dashes() {
        assert_eq!(canonical("Foo-Bar_baz"), "foo_bar_baz");
    }

    #[test]
    fn sibling_dirs_swap_separators() {
        let mut d = sibling_index_dirs("a-b_c");
        d.sort();
        assert_eq!(d, vec!["a-/b-", "a-/b_", "a_/b-", "a_/b_"]);
        assert_eq!(sibling_index_dirs("ab"), vec!["2"]);
    }
}
