//! A version's metadata beyond its index line: the packaged `Cargo.toml`'s
//! `[package]` text fields and the README, read once when a `.crate` is read
//! (the manifest's one parse, [`crate::manifest::read`]; the README candidates,
//! [`crate::crate_file::CrateContents::readmes`]), for the catalogue's pages. Floor 1 (`input`): parses input, imports nothing of the crate.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/manifest.html> (`description`,
//! `license`, `license-file`, `repository`, `homepage`, `documentation`,
//! `keywords`, `readme`).

use serde::{Deserialize, Serialize};

/// One version's catalogue metadata, carried as JSON by its crate's page
/// (see `crate::catalogue`).
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

/// `v` as text when it is a string that is not blank, trimmed.
fn text(v: Option<&toml::Value>) -> Option<String> {
    match v {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Reads the catalogue metadata from a packaged manifest as plain TOML (the
/// parse [`crate::manifest::read`] makes anyway) and the README candidates of
/// its archive (`(path inside the package, bytes)`). The fields are those of
/// `[package]` (or the older `[project]`), each only when it is a string that
/// is not blank (trimmed), and `keywords` the strings of an array; a
/// `package` or `project` that is not a table gives no field. The README is
/// `package.readme` when it names a candidate (a leading `./` dropped), else
/// (no `readme` key, or one that is neither a string nor `false`) the first of
/// `README.md`, `README.txt`, `README` (any case) at the top, as cargo picks
/// it; `readme = false` means none. Never fails: the index line was derived
/// already.
pub(crate) fn from_table(manifest: &toml::Table, readmes: &[(String, Vec<u8>)]) -> VersionMeta {
    let (package, project) = (manifest.get("package"), manifest.get("project"));
    let p = if package
        .into_iter()
        .chain(project)
        .all(toml::Value::is_table)
    {
        package.or(project).and_then(toml::Value::as_table)
    } else {
        None
    };
    let get = |key: &str| p.and_then(|p| p.get(key));
    let readme_file = match get("readme") {
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
    let keywords = match get("keywords") {
        Some(toml::Value::Array(a)) => a
            .iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    VersionMeta {
        description: text(get("description")),
        license: text(get("license")),
        license_file: text(get("license-file")),
        repository: text(get("repository")),
        homepage: text(get("homepage")),
        documentation: text(get("documentation")),
        keywords,
        readme_path: readme_file.map(|(p, _)| p.clone()),
        readme: readme_file.map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
    }
}

/// [`from_table`] of a packaged manifest's bytes (a manifest that is not
/// TOML gives empty metadata and the README by its name), for tests that
/// hold only the bytes; regtool itself reads the parse its index entry
/// comes from.
#[cfg(all(test, feature = "html"))]
pub(crate) fn extract(manifest: &[u8], readmes: &[(String, Vec<u8>)]) -> VersionMeta {
    let table = std::str::from_utf8(manifest)
        .ok()
        .and_then(|t| toml::from_str(t).ok())
        .unwrap_or_default();
    from_table(&table, readmes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What regtool read before the manifest was parsed once (a second,
    /// typed parse of the text): the judge of [`from_table`].
    mod typed {
        use serde::Deserialize;

        #[derive(Deserialize, Default)]
        #[serde(rename_all = "kebab-case")]
        pub(super) struct Package {
            pub(super) description: Option<toml::Value>,
            pub(super) license: Option<toml::Value>,
            pub(super) license_file: Option<toml::Value>,
            pub(super) repository: Option<toml::Value>,
            pub(super) homepage: Option<toml::Value>,
            pub(super) documentation: Option<toml::Value>,
            pub(super) keywords: Option<toml::Value>,
            pub(super) readme: Option<toml::Value>,
        }

        #[derive(Deserialize, Default)]
        pub(super) struct Manifest {
            pub(super) package: Option<Package>,
            pub(super) project: Option<Package>,
        }
    }

    fn typed_extract(manifest: &str, readmes: &[(String, Vec<u8>)]) -> VersionMeta {
        let parsed: typed::Manifest = toml::from_str(manifest).unwrap_or_default();
        let p = parsed.package.or(parsed.project).unwrap_or_default();
        let text = |v: Option<toml::Value>| match v {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
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

    fn from_text(manifest: &str, readmes: &[(String, Vec<u8>)]) -> VersionMeta {
        from_table(&toml::from_str(manifest).unwrap(), readmes)
    }

    fn readmes() -> Vec<(String, Vec<u8>)> {
        vec![
            ("README.md".to_string(), b"top".to_vec()),
            ("docs/README.md".to_string(), b"docs".to_vec()),
        ]
    }

    #[test]
    fn fields_and_readme() {
        let m = r#"[package]
name = "a"
version = "1.0.0"
description = "  An a.  "
license = "MIT"
repository = "https://example.org/a"
keywords = ["x", "y"]
readme = "docs/README.md"
"#;
        let readmes = readmes();
        let meta = from_text(m, &readmes);
        assert_eq!(meta.description.as_deref(), Some("An a."));
        assert_eq!(meta.license.as_deref(), Some("MIT"));
        assert_eq!(meta.keywords, ["x", "y"]);
        assert_eq!(meta.readme.as_deref(), Some("docs"));
        assert_eq!(meta, typed_extract(m, &readmes));
        // No `readme` key: cargo's default names.
        let meta = from_text("[package]\nname='a'\n", &readmes);
        assert_eq!(meta.readme.as_deref(), Some("top"));
        // `readme = false`: none.
        let meta = from_text("[package]\nreadme=false\n", &readmes);
        assert_eq!(meta.readme, None);
    }

    /// Odd manifests read as the typed parse read them: values of other
    /// types, blank strings, `[project]`, both tables, tables that are not.
    #[test]
    fn odd_manifests_read_as_before() {
        let readmes = readmes();
        for m in [
            "",
            "[package]\ndescription = 5\nlicense = true\nrepository = ['a']\nhomepage = {a = 1}\n",
            "[package]\ndescription = '   '\nlicense = ''\nkeywords = 'x'\nreadme = true\n",
            "[package]\nkeywords = ['a', 1, ' b ', '', ['c']]\nreadme = './docs/README.md'\n",
            "[package]\nreadme = 'missing.md'\ndocumentation = 2026-01-01\n",
            "[package]\nreadme = 7\nlicense-file = ' LICENSE '\nlicense_file = 'x'\n",
            "[project]\ndescription = 'from project'\nreadme = false\n",
            "[project]\ndescription = 'project'\n[package]\ndescription = 'package'\n",
            "package = 5\n[project]\ndescription = 'x'\n",
            "project = 'x'\n[package]\ndescription = 'x'\n",
            "package = []\n",
            "[package]\ndescription = \"\\u0000 tab\\t \"\nhomepage = \"\\n https://e.org \\n\"\n",
            "[package.description]\nworkspace = true\n",
            "[other]\ndescription = 'no'\n",
        ] {
            assert_eq!(from_text(m, &readmes), typed_extract(m, &readmes), "{m}");
        }
        assert_eq!(
            from_text("[project]\ndescription = ' from project '\n", &readmes).description,
            Some("from project".into())
        );
        let no_table = from_text("package = 5\n[project]\ndescription = 'x'\n", &readmes);
        assert_eq!(no_table.description, None);
        // Without a `[package]`, a README is still found by its name.
        assert_eq!(from_text("", &readmes).readme.as_deref(), Some("top"));
    }

    /// A value of any type `[package]` might hold.
    fn value() -> impl Strategy<Value = toml::Value> {
        let leaf = prop_oneof![
            "[ a-zA-Z./_\t\n-]{0,12}".prop_map(toml::Value::String),
            prop_oneof![
                Just("README.md"),
                Just("./README.md"),
                Just("docs/README.md"),
                Just("readme"),
                Just("README.txt"),
                Just("  "),
            ]
            .prop_map(|s| toml::Value::String(s.into())),
            any::<i64>().prop_map(toml::Value::Integer),
            any::<bool>().prop_map(toml::Value::Boolean),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 10] = [
        "name",
        "description",
        "license",
        "license-file",
        "repository",
        "homepage",
        "documentation",
        "keywords",
        "readme",
        "license_file",
    ];

    fn package() -> impl Strategy<Value = toml::Value> {
        prop_oneof![
            4 => proptest::collection::vec(proptest::option::of(value()), FIELDS.len()).prop_map(
                |values| {
                    let mut t = toml::Table::new();
                    for (k, v) in FIELDS.iter().zip(values) {
                        if let Some(v) = v {
                            t.insert((*k).to_string(), v);
                        }
                    }
                    toml::Value::Table(t)
                }
            ),
            1 => value(),
        ]
    }

    proptest! {
        /// Over generated manifests (as text, parsed by both), reading the
        /// one parse gives what the second, typed parse gave.
        #[test]
        fn the_one_parse_reads_what_the_typed_parse_read(
            package in proptest::option::of(package()),
            project in proptest::option::of(package()),
            names in proptest::collection::vec(
                prop_oneof![
                    Just("README.md"), Just("readme.MD"), Just("README.txt"),
                    Just("ReadMe"), Just("docs/README.md"), Just("other.md"),
                ],
                0..4,
            ),
        ) {
            let mut t = toml::Table::new();
            if let Some(p) = package {
                t.insert("package".into(), p);
            }
            if let Some(p) = project {
                t.insert("project".into(), p);
            }
            let text = toml::to_string(&t).unwrap();
            let readmes: Vec<(String, Vec<u8>)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| ((*n).to_string(), vec![b'a' + i as u8]))
                .collect();
            prop_assert_eq!(from_text(&text, &readmes), typed_extract(&text, &readmes), "{}", text);
        }
    }
}
