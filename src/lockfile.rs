//! `Cargo.lock` files read for `regtool mirror`: each package's name, version,
//! source and checksum (lockfile versions 1 to 4; version 1 keeps checksums in
//! `[metadata]`), parsed into types (a lockfile is outside input: a `version`
//! such as `1/../../x` is refused here, by name, and never becomes a path).
//! Source:
//! <https://doc.rust-lang.org/cargo/guide/cargo-toml-vs-cargo-lock.html>,
//! cargo's `EncodableResolve`.
//! Floor 1 (`input`): parses the user's input, imports the core only.

use crate::error::{Error, Result};
use crate::index::Cksum;
use crate::name::CrateName;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// crates.io's source in lockfiles written through the git index (every lockfile
/// version, and the one cargo keeps when crates.io is replaced).
pub(crate) const CRATES_IO_REGISTRY: &str = "registry+https://github.com/rust-lang/crates.io-index";
/// crates.io's source when reached through `sparse+https://index.crates.io/`.
pub(crate) const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// One `[[package]]` of a lockfile, as written (see [`LockedPackage::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockedPackage {
    /// `name`.
    pub(crate) name: String,
    /// `version`.
    pub(crate) version: String,
    /// `source` (`registry+URL`, `sparse+URL`, `git+URL`); `None` for path
    /// and workspace packages.
    pub(crate) source: Option<String>,
    /// `checksum` (SHA-256 of the `.crate`) when the lockfile records one.
    pub(crate) checksum: Option<String>,
}

/// A package of a registry, from a lockfile, parsed into types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryPackage {
    /// Its name.
    pub(crate) name: CrateName,
    /// Its version.
    pub(crate) version: semver::Version,
    /// Its `.crate`'s SHA-256, when the lockfile records one.
    pub(crate) checksum: Option<Cksum>,
}

impl LockedPackage {
    /// The package as types, for one that is taken from a registry (a path
    /// or git package's name and version never name anything regtool
    /// writes, and cargo allows names there that a registry does not);
    /// `path` is the lockfile, named in errors.
    ///
    /// # Errors
    /// [`Error::Config`] naming the lockfile and the package when `name` is
    /// not a crate name, `version` not a semver version, or `checksum` not 64
    /// lowercase hex digits.
    pub(crate) fn parse(&self, path: &Path) -> Result<RegistryPackage> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message: format!(
                "package `{}` v{}: {message}",
                self.name.escape_default(),
                self.version.escape_default()
            ),
        };
        let name = CrateName::new(&self.name).map_err(|why| {
            bad(format!(
                "`{}` is not a crate name: {why}",
                self.name.escape_default()
            ))
        })?;
        let version = semver::Version::parse(&self.version)
            .map_err(|e| bad(format!("`version` is not a semver version: {e}")))?;
        let checksum = self
            .checksum
            .as_deref()
            .map(|c| Cksum::parse(c).map_err(|e| bad(format!("`checksum`: {e}"))))
            .transpose()?;
        Ok(RegistryPackage {
            name,
            version,
            checksum,
        })
    }
}

#[derive(Deserialize)]
struct RawLock {
    #[serde(default)]
    package: Vec<RawPackage>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// Reads the lockfile at `path`, or `path/Cargo.lock` when `path` is a folder.
///
/// # Errors
/// [`Error::Io`] naming the file if it cannot be read; [`Error::Config`]
/// naming it if it is not a lockfile.
#[allow(clippy::disallowed_methods)] // the user's lockfile, not the registry
pub(crate) fn read(path: &Path) -> Result<(PathBuf, Vec<LockedPackage>)> {
    let file = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => path.join("Cargo.lock"),
        _ => path.to_path_buf(),
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
    let packages = parse(&file, &text)?;
    Ok((file, packages))
}

/// Parses lockfile text; `path` is only used in errors.
///
/// # Errors
/// [`Error::Config`] if it is not TOML shaped like a lockfile.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<LockedPackage>> {
    let raw: RawLock = toml::from_str(text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        message: format!("not a Cargo.lock: {e}"),
    })?;
    // Version 1: `"checksum NAME VERSION (SOURCE)" = "HASH"` in [metadata].
    let mut v1 = BTreeMap::new();
    for (k, v) in &raw.metadata {
        if let (Some(rest), Some(hash)) = (k.strip_prefix("checksum "), v.as_str()) {
            let mut parts = rest.splitn(3, ' ');
            if let (Some(n), Some(ver)) = (parts.next(), parts.next()) {
                v1.insert((n.to_string(), ver.to_string()), hash.to_string());
            }
        }
    }
    Ok(raw
        .package
        .into_iter()
        .map(|p| {
            let checksum = p
                .checksum
                .or_else(|| v1.get(&(p.name.clone(), p.version.clone())).cloned())
                .filter(|c| c != "<none>");
            LockedPackage {
                name: p.name,
                version: p.version,
                source: p.source,
                checksum,
            }
        })
        .collect())
}

/// Whether `source` is crates.io (through its git or its sparse index).
pub(crate) fn is_crates_io(source: &str) -> bool {
    source == CRATES_IO_REGISTRY || source == CRATES_IO_SPARSE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v4_and_v1() {
        let v4 = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.18"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "{HASH}"
"#
        .replace("{HASH}", &"ab".repeat(32));
        let p = parse(Path::new("Cargo.lock"), &v4).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source, None);
        let typed = p[1].parse(Path::new("Cargo.lock")).unwrap();
        assert_eq!(typed.checksum.unwrap().as_str(), "ab".repeat(32));
        assert_eq!(typed.version, semver::Version::new(1, 0, 18));
        assert!(is_crates_io(p[1].source.as_deref().unwrap()));

        let v1 = r#"
[[package]]
name = "itoa"
version = "0.4.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[metadata]
"checksum itoa 0.4.0 (registry+https://github.com/rust-lang/crates.io-index)" = "{HASH}"
"#
        .replace("{HASH}", &"de".repeat(32));
        let p = parse(Path::new("Cargo.lock"), &v1).unwrap();
        assert_eq!(p[0].checksum.as_deref(), Some("de".repeat(32).as_str()));
        assert!(parse(Path::new("x"), "package = 3").is_err());
    }

    #[test]
    fn names_versions_and_checksums_are_types() {
        let lock = |name: &str, version: &str, checksum: &str| {
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"{CRATES_IO_REGISTRY}\"\nchecksum = \"{checksum}\"\n"
            )
        };
        let good = "ab".repeat(32);
        let typed = |text: &str| {
            parse(Path::new("Cargo.lock"), text).unwrap()[0].parse(Path::new("Cargo.lock"))
        };
        assert!(typed(&lock("itoa", "1.0.18", &good)).is_ok());
        for (text, says) in [
            (
                lock("itoa", "1/../../../x", &good),
                "`version` is not a semver version",
            ),
            (lock("../x", "1.0.0", &good), "is not a crate name"),
            (lock("itoa", "1.0.0", "../../x"), "`checksum`"),
            (lock("itoa", "1.0.0", &good.to_uppercase()), "`checksum`"),
        ] {
            let e = typed(&text).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("Cargo.lock"), "{e}");
        }
    }
}
