//! A version's metadata beyond its index line: the packaged `Cargo.toml`'s
//! `[package]` text fields and the README, read once when a `.crate` is read
//! (see [`crate::crate_file::CrateContents::readmes`]), for the catalogue's
//! pages. Floor 1 (`input`): parses input, imports nothing of the crate.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/manifest.html> (`description`,
//! `license`, `license-file`, `repository`, `homepage`, `documentation`,
//! `keywords`, `readme`).

use serde::{Deserialize, Serialize};

/// One version's catalogue metadata, stored as JSON under
/// `.regtool/meta/{name}.json` (see `crate::catalogue`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    /// `package.description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// `package.license` (an SPDX expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) license: Option<String>,
    /// `package.license-file` (a path inside the package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) license_file: Option<String>,
    /// `package.repository`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) repository: Option<String>,
    /// `package.homepage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) homepage: Option<String>,
    /// `package.documentation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) documentation: Option<String>,
    /// `package.keywords`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) keywords: Vec<String>,
    /// The README's path inside the package, as found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) readme_path: Option<String>,
    /// The README's text (Markdown unless its name says otherwise), lossily
    /// decoded as UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) readme: Option<String>,
}

/// The fields of `[package]` read here; anything else is ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Package {
    description: Option<toml::Value>,
    license: Option<toml::Value>,
    license_file: Option<toml::Value>,
    repository: Option<toml::Value>,
    homepage: Option<toml::Value>,
    documentation: Option<toml::Value>,
    keywords: Option<toml::Value>,
    readme: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
struct Manifest {
    package: Option<Package>,
    project: Option<Package>,
}

fn text(v: Option<toml::Value>) -> Option<String> {
    match v {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Reads the catalogue metadata from a packaged manifest and the README
/// candidates of its archive (`(path inside the package, bytes)`). The README
/// is `package.readme` when it names a candidate, else (no `readme` key) the
/// first of `README.md`, `README.txt`, `README` (any case) at the top, as
/// cargo picks it; `readme = false` means none. Never fails: a manifest that
/// cannot be read gives empty metadata (the index line was derived already).
pub(crate) fn extract(manifest: &[u8], readmes: &[(String, Vec<u8>)]) -> VersionMeta {
    let parsed: Manifest = std::str::from_utf8(manifest)
        .ok()
        .and_then(|t| toml::from_str(t).ok())
        .unwrap_or_default();
    let p = parsed.package.or(parsed.project).unwrap_or_default();
    let readme_file = match &p.readme {
        Some(toml::Value::Boolean(false)) => None,
        Some(toml::Value::String(path)) => {
            let path = path.trim_start_matches("./");
            readmes.iter().find(|(p, _)| p == path)
        }
        _ => ["readme.md", "readme.txt", "readme"]
            .iter()
            .find_map(|want| {
                readmes
                    .iter()
                    .find(|(p, _)| p.to_ascii_lowercase() == *want)
            }),
    };
    let keywords = match p.keywords {
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    VersionMeta {
        description: text(p.description),
        license: text(p.license),
        license_file: text(p.license_file),
        repository: text(p.repository),
        homepage: text(p.homepage),
        documentation: text(p.documentation),
        keywords,
        readme_path: readme_file.map(|(p, _)| p.clone()),
        readme: readme_file.map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_readme() {
        let m = br#"[package]
name = "a"
version = "1.0.0"
description = "  An a.  "
license = "MIT"
repository = "https://example.org/a"
keywords = ["x", "y"]
readme = "docs/README.md"
"#;
        let readmes = vec![
            ("README.md".to_string(), b"top".to_vec()),
            ("docs/README.md".to_string(), b"docs".to_vec()),
        ];
        let meta = extract(m, &readmes);
        assert_eq!(meta.description.as_deref(), Some("An a."));
        assert_eq!(meta.license.as_deref(), Some("MIT"));
        assert_eq!(meta.keywords, ["x", "y"]);
        assert_eq!(meta.readme.as_deref(), Some("docs"));
        // No `readme` key: cargo's default names.
        let meta = extract(b"[package]\nname='a'\n", &readmes);
        assert_eq!(meta.readme.as_deref(), Some("top"));
        // `readme = false`: none.
        let meta = extract(b"[package]\nreadme=false\n", &readmes);
        assert_eq!(meta.readme, None);
        assert_eq!(extract(b"not toml [", &readmes).description, None);
    }
}
