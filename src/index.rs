//! Index lines (`IndexPackage`, `RegistryDependency`), their `pubtime`, and
//! index files. Floor 0 (`core`): imports only [`crate::error`].
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>.
//! Fields are written in the order crates.io writes them, and lines written by
//! others are kept byte for byte: [`IndexFile`] holds each line's raw text and
//! only ever appends a line, removes one, or flips one line's `yanked`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// crates.io's index URL, the `registry` of crates.io dependencies in an
/// alternative registry.
pub(crate) const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// One version of a crate: one line of an index file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexPackage {
    /// Crate name, with the case it was published with.
    pub name: String,
    /// The version, as published (semver, may carry build metadata).
    pub vers: String,
    /// Direct dependencies of every kind, sorted by (name, kind, req).
    pub deps: Vec<RegistryDependency>,
    /// Lowercase hex SHA-256 of the `.crate` file.
    pub cksum: String,
    /// `[features]` except those that must go to `features2`.
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    /// Features using `dep:` or `?/` syntax (and the features naming them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<BTreeMap<String, Vec<String>>>,
    /// Whether the version is yanked.
    #[serde(default)]
    pub yanked: bool,
    /// `[package] links`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    /// `[package] rust-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// Time of first publication, `YYYY-MM-DDTHH:MM:SSZ` UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
    /// Schema version: `Some(2)` when `features2` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// Fields this version of regtool does not know; kept as they were.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The current time as an index `pubtime` (`YYYY-MM-DDTHH:MM:SSZ`, UTC).
/// Honors `SOURCE_DATE_EPOCH` (seconds since 1970) for reproducible
/// registries and tests.
pub(crate) fn pubtime_now() -> String {
    let ts = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    format_pubtime(ts)
}

/// A timestamp as an index `pubtime` (`YYYY-MM-DDTHH:MM:SSZ`, UTC, whole
/// seconds), the form crates.io writes.
pub(crate) fn format_pubtime(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One dependency in an index line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryDependency {
    /// The name the depending crate uses (the alias if renamed).
    pub name: String,
    /// Version requirement, as `semver::VersionReq` displays it.
    pub req: String,
    /// Features enabled on the dependency.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether it is optional.
    #[serde(default)]
    pub optional: bool,
    /// Whether default features are on.
    #[serde(default = "yes")]
    pub default_features: bool,
    /// Platform (`cfg(...)` or a target triple) or `None` for all.
    #[serde(default)]
    pub target: Option<String>,
    /// `normal`, `build` or `dev` (`normal` when absent, as cargo reads it).
    #[serde(default)]
    pub kind: DepKind,
    /// Index URL of the dependency's registry; `None` means this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real name when the dependency is renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Fields this version of regtool does not know; kept as they were.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// The kind of a dependency: which manifest table it comes from.
///
/// Ordered as crates.io sorts the `deps` of a line (`normal` < `build` <
/// `dev`); written in lowercase. A line with another `kind` is not a valid
/// index line. Source:
/// <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DepKind {
    /// `[dependencies]`.
    #[default]
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`.
    Dev,
}

impl DepKind {
    /// The name written in index lines: `normal`, `build` or `dev`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DepKind::Normal => "normal",
            DepKind::Build => "build",
            DepKind::Dev => "dev",
        }
    }
}

impl std::fmt::Display for DepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl IndexPackage {
    /// The compact JSON line, without the trailing newline.
    ///
    /// # Panics
    /// Never: every field serializes to JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("index line serializes")
    }

    /// The version parsed as semver.
    ///
    /// # Errors
    /// The semver parse error.
    pub fn version(&self) -> std::result::Result<semver::Version, semver::Error> {
        semver::Version::parse(&self.vers)
    }
}

/// A `cksum`: the SHA-256 of a `.crate` file as 64 lowercase hex digits,
/// the only form cargo and crates.io write. Source:
/// <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Cksum(String);

impl Cksum {
    /// Checks `text`.
    ///
    /// # Errors
    /// A sentence saying how it is not 64 lowercase hex digits.
    pub(crate) fn parse(text: &str) -> std::result::Result<Cksum, String> {
        if text.len() != 64 {
            return Err(format!(
                "`{}` is not a SHA-256 checksum: {} characters, not 64",
                text.escape_default(),
                text.chars().count()
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_digit() || ('a'..='f').contains(c)))
        {
            return Err(format!(
                "`{}` is not a SHA-256 checksum: `{}` is not a lowercase hex digit",
                text.escape_default(),
                c.escape_default()
            ));
        }
        Ok(Cksum(text.to_string()))
    }

    /// The 64 hex digits.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version without build metadata: two versions with the same key collide.
pub(crate) fn version_key(v: &semver::Version) -> (u64, u64, u64, String) {
    (v.major, v.minor, v.patch, v.pre.to_string())
}

/// An index line as read from disk: the raw text plus its parsed form.
#[derive(Debug, Clone)]
pub(crate) struct IndexLine {
    /// The line as it is on disk (without the newline).
    pub(crate) raw: String,
    /// The parsed line.
    pub(crate) package: IndexPackage,
}

/// One index file: the lines of all versions of one crate, in publish order.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexFile {
    /// The lines, oldest first.
    pub(crate) lines: Vec<IndexLine>,
}

impl IndexFile {
    /// Parses index file bytes; `path` is only used in errors. Blank lines are skipped.
    ///
    /// # Errors
    /// [`Error::IndexFile`] naming the first bad line.
    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::IndexFile {
            path: path.to_path_buf(),
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            message: "not UTF-8".into(),
        })?;
        let mut lines = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let package: IndexPackage =
                serde_json::from_str(raw).map_err(|e| Error::IndexFile {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("not a valid index line: {e}"),
                })?;
            lines.push(IndexLine {
                raw: raw.to_string(),
                package,
            });
        }
        Ok(IndexFile { lines })
    }

    /// Appends a new line.
    pub(crate) fn push(&mut self, package: IndexPackage) {
        self.lines.push(IndexLine {
            raw: package.to_line(),
            package,
        });
    }

    /// Sets `yanked` on line `i`, changing only that line; returns whether it changed.
    pub(crate) fn set_yanked(&mut self, i: usize, yanked: bool) -> bool {
        let line = &mut self.lines[i];
        if line.package.yanked == yanked {
            return false;
        }
        // Edit the raw JSON so unknown fields and field order are kept.
        let mut value: Value = serde_json::from_str(&line.raw).expect("line parsed before");
        if let Value::Object(map) = &mut value {
            map.insert("yanked".into(), Value::Bool(yanked));
        }
        line.raw = serde_json::to_string(&value).expect("json serializes");
        line.package.yanked = yanked;
        true
    }

    /// The file's bytes: each line followed by `\n`.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.raw.len() + 1).sum());
        for l in &self.lines {
            out.extend_from_slice(l.raw.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IndexPackage {
        IndexPackage {
            name: "Foo".into(),
            vers: "1.0.0".into(),
            deps: vec![RegistryDependency {
                name: "bar".into(),
                req: "^1".into(),
                features: vec![],
                optional: false,
                default_features: true,
                target: None,
                kind: DepKind::Normal,
                registry: Some(CRATES_IO_INDEX.into()),
                package: None,
                unknown: Map::new(),
            }],
            cksum: "ab".into(),
            features: BTreeMap::new(),
            features2: None,
            yanked: false,
            links: None,
            rust_version: Some("1.70".into()),
            pubtime: Some("2026-01-02T03:04:05Z".into()),
            v: None,
            unknown: Map::new(),
        }
    }

    #[test]
    fn dependency_kinds_sort_as_crates_io_and_default_to_normal() {
        assert!(DepKind::Normal < DepKind::Build && DepKind::Build < DepKind::Dev);
        let line = r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b","req":"^1","features":[],"optional":false,"default_features":true,"target":null}],"cksum":"00","features":{},"yanked":false}"#;
        let file = IndexFile::parse(Path::new("1/a"), line.as_bytes()).unwrap();
        assert_eq!(file.lines[0].package.deps[0].kind, DepKind::Normal);
        let bad = line.replace(r#""target":null"#, r#""target":null,"kind":"peer""#);
        let err = IndexFile::parse(Path::new("1/a"), bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("peer"), "{err}");
    }

    #[test]
    fn cksums_are_64_lowercase_hex_digits() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(Cksum::parse(&good).unwrap().as_str(), good);
        for bad in [
            good.to_uppercase(),
            good[1..].to_string(),
            format!("{good}0"),
            good.replacen('0', "g", 1),
            good.replacen('0', "/", 1),
            String::new(),
        ] {
            assert!(Cksum::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn line_has_crates_io_field_order() {
        insta::assert_snapshot!(sample().to_line());
    }

    #[test]
    fn yank_changes_only_yanked_and_keeps_unknown_fields() {
        let raw = r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"x","features":{},"yanked":false,"zzz":{"k":1}}"#;
        let mut f = IndexFile::parse(Path::new("a"), format!("{raw}\n").as_bytes()).unwrap();
        assert!(f.set_yanked(0, true));
        assert!(!f.set_yanked(0, true));
        assert_eq!(
            String::from_utf8(f.to_bytes()).unwrap(),
            raw.replace("\"yanked\":false", "\"yanked\":true") + "\n"
        );
        assert_eq!(f.lines[0].package.unknown["zzz"]["k"], 1);
    }
}
