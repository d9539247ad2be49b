//! Crate names: crates.io's rules for a name, and the canonical form under
//! which two spellings are one crate. Floor 0 (`core`): imports nothing of the
//! crate. The index path of a name is [`crate::layout`]'s.
//!
//! The rules are crates.io's for a new crate (an ASCII letter first, then
//! ASCII letters, digits, `-` and `_`; at most 64 characters; not a Rust
//! standard crate or a Windows device name); cargo and crates.io take names
//! equal after lowercasing and `-` to `_` as one crate. Source:
//! <https://doc.rust-lang.org/cargo/reference/manifest.html#the-name-field>.

use std::fmt;

/// The longest crate name crates.io accepts, in characters.
pub(crate) const MAX_NAME_LEN: usize = 64;

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
pub(crate) struct CrateName(String);

impl CrateName {
    /// Checks `name` against the rules (see the module docs).
    ///
    /// # Errors
    /// A sentence naming the rule `name` breaks.
    pub(crate) fn new(name: &str) -> Result<Self, String> {
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
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercase with `-` turned into `_`: two names with the same canonical form are
    /// the same crate.
    pub(crate) fn canonical(&self) -> String {
        canonical(&self.0)
    }
}

impl fmt::Display for CrateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase with `-` turned into `_` (see [`CrateName::canonical`]).
pub(crate) fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(CrateName::new("serde-json_2").is_ok());
        assert!(CrateName::new("serde_json").is_ok());
        assert!(CrateName::new("1abc").is_err()); // must start with a letter
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
}
