//! Dependencies that name another registry whose URL looks like this one's.
//! Floor 5 (`commands`).
//!
//! A normalized manifest names a dependency's registry by its index URL
//! (`registry-index`); regtool writes no `registry` field when that URL is this
//! registry's URL or one of its aliases ([`Settings::is_own_index`]), and the
//! URL otherwise. A crate packaged for this registry under another URL (the
//! example crates of `fixtures/example/` name `http://127.0.0.1:8000/`) thus
//! gets lines that send cargo elsewhere for its dependency. That is legitimate
//! for a dependency on another registry, so it is only a warning, given when
//! the URL looks like this registry's. The rule, for a dependency (any kind)
//! whose line gets a `registry` that is not crates.io:
//!
//! 1. **same place**: its URL has the same host name and path as this
//!    registry's URL or an alias, differing only in scheme or port; or
//! 2. **crate here**: this registry (or the batch being added) holds the crate
//!    it names (its `package`, if renamed) in a version that is not yanked and
//!    satisfies its requirement.
//!
//! The fix when the URL is this registry's too: `regtool settings --alias URL`,
//! then `regtool reindex` (which derives every line again with the alias).
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>
//! (`registry`).

use crate::config::{Settings, normalize_url};
use crate::error::Result;
use crate::index::RegistryDependency;
use crate::name::{self, CrateName};
use crate::registry::Registry;
use std::collections::HashMap;

/// Why a dependency's registry URL looks like this registry's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Same host name and path as the URL or alias given (scheme or port differ).
    SamePlace(String),
    /// This registry holds this version of the crate, which satisfies the requirement.
    CrateHere(semver::Version),
}

/// A dependency whose registry URL looks like this registry's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misdirected {
    /// The crate the dependency names (its `package` if renamed).
    pub(crate) dep: String,
    /// Its version requirement.
    pub(crate) req: String,
    /// The registry index URL its line names.
    pub(crate) registry: String,
    /// Why it looks like this registry.
    pub(crate) reason: Reason,
}

impl Misdirected {
    /// The warning for the crate file or index line `what`, with the fix.
    pub(crate) fn message(&self, what: &str, settings: &Settings) -> String {
        let why = match &self.reason {
            Reason::SamePlace(u) => {
                format!("it differs from this registry's `{u}` only in scheme or port")
            }
            Reason::CrateHere(v) => format!(
                "this registry holds {} {v}, which matches `{}`",
                self.dep, self.req
            ),
        };
        let url = normalize_url(&self.registry);
        format!(
            "`{what}`: dependency `{}` names the registry `{}`, which is neither this registry's URL (`{}`) nor one of its aliases, but {why}; cargo will fetch `{}` from `{}`. If the registry is served there too, run `regtool settings --alias {url}` and then `regtool reindex`; if it is another registry, ignore this warning",
            self.dep, self.registry, settings.url, self.dep, self.registry
        )
    }
}

/// Host name (lowercase) and path (no trailing `/`) of `url` (with or without
/// `sparse+`); `None` if it does not parse.
fn place(url: &str) -> Option<(String, String)> {
    let u = url::Url::parse(normalize_url(url)).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some((host, u.path().trim_end_matches('/').to_string()))
}

fn is_crates_io(url: &str) -> bool {
    matches!(
        normalize_url(url),
        "https://github.com/rust-lang/crates.io-index" | "https://index.crates.io"
    )
}

/// The dependencies among `deps` (of one version's line, as derived for this
/// registry) whose `registry` looks like this registry's (see the module docs).
/// `versions(name)` gives the versions of crate `name` in this registry that
/// are not yanked.
///
/// # Errors
/// What `versions` returns.
pub(crate) fn misdirected(
    settings: &Settings,
    deps: &[RegistryDependency],
    mut versions: impl FnMut(&str) -> Result<Vec<semver::Version>>,
) -> Result<Vec<Misdirected>> {
    let own: Vec<(String, String)> = std::iter::once(&settings.url)
        .chain(settings.aliases.iter())
        .filter_map(|u| place(u).map(|p| (u.clone(), p)))
        .map(|(u, (h, p))| (u, format!("{h}{p}")))
        .collect();
    let mut out = Vec::new();
    for d in deps {
        let Some(url) = d.registry.as_deref() else {
            continue;
        };
        if is_crates_io(url) || settings.is_own_index(url) {
            continue;
        }
        let dep = d.package.as_deref().unwrap_or(&d.name).to_string();
        let here = place(url).map(|(h, p)| format!("{h}{p}"));
        let reason = if let Some((u, _)) = own.iter().find(|(_, p)| Some(p) == here.as_ref()) {
            Some(Reason::SamePlace(u.clone()))
        } else {
            let found = versions(&dep)?;
            semver::VersionReq::parse(&d.req).ok().and_then(|req| {
                found
                    .into_iter()
                    .filter(|v| req.matches(v))
                    .max()
                    .map(Reason::CrateHere)
            })
        };
        if let Some(reason) = reason {
            out.push(Misdirected {
                dep,
                req: d.req.clone(),
                registry: url.to_string(),
                reason,
            });
        }
    }
    Ok(out)
}

/// The non-yanked versions of each crate in a registry plus those of a batch
/// being added, read once per crate.
pub(crate) struct VersionLookup<'a> {
    reg: &'a Registry,
    batch: HashMap<String, Vec<semver::Version>>,
    cache: HashMap<String, Vec<semver::Version>>,
}

impl<'a> VersionLookup<'a> {
    /// A lookup in `reg`, adding `batch` (canonical name to versions).
    pub(crate) fn new(reg: &'a Registry, batch: HashMap<String, Vec<semver::Version>>) -> Self {
        VersionLookup {
            reg,
            batch,
            cache: HashMap::new(),
        }
    }

    /// The versions of crate `name` (any spelling) that are not yanked.
    ///
    /// # Errors
    /// [`crate::Error::Io`], [`crate::Error::IndexFile`].
    pub(crate) fn get(&mut self, dep: &str) -> Result<Vec<semver::Version>> {
        let key = name::canonical(dep);
        if let Some(v) = self.cache.get(&key) {
            return Ok(v.clone());
        }
        // A name that breaks the rules is in no registry.
        let stored = match CrateName::new(dep) {
            Ok(n) => self.reg.find_crate(&n)?,
            Err(_) => None,
        };
        let mut found: Vec<semver::Version> = stored
            .iter()
            .flat_map(|s| s.index.lines.iter())
            .filter(|l| !l.package.yanked)
            .filter_map(|l| l.package.version().ok())
            .collect();
        found.extend(self.batch.get(&key).into_iter().flatten().cloned());
        self.cache.insert(key, found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DepKind;

    fn settings(url: &str, aliases: &[&str]) -> Settings {
        Settings {
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            html: false,
            ..Settings::new(url.into())
        }
    }

    fn dep(name: &str, req: &str, registry: Option<&str>) -> RegistryDependency {
        RegistryDependency {
            name: name.into(),
            req: req.into(),
            features: vec![],
            optional: false,
            default_features: true,
            target: None,
            kind: DepKind::Normal,
            registry: registry.map(str::to_string),
            package: None,
            unknown: Default::default(),
        }
    }

    fn versions(list: &[(&str, &str)]) -> impl FnMut(&str) -> Result<Vec<semver::Version>> {
        let list: Vec<(String, semver::Version)> = list
            .iter()
            .map(|(n, v)| (n.to_string(), semver::Version::parse(v).unwrap()))
            .collect();
        move |n: &str| {
            Ok(list
                .iter()
                .filter(|(m, _)| name::canonical(m) == name::canonical(n))
                .map(|(_, v)| v.clone())
                .collect())
        }
    }

    #[test]
    fn the_rule() {
        let s = settings("http://localhost:9000", &["https://crates.example.com/reg"]);
        let here = versions(&[("hello-util", "0.2.0"), ("other", "1.0.0")]);
        let deps = [
            // Crate here, satisfying: reported.
            dep("hello-util", "^0.2", Some("sparse+http://127.0.0.1:8000/")),
            // Crate here but no version satisfies: another registry's crate.
            dep("other", "^2", Some("sparse+http://127.0.0.1:8000/")),
            // Crate not here, another host: another registry.
            dep(
                "serde-ext",
                "1",
                Some("sparse+https://crates.other.example/"),
            ),
            // Same host and path as an alias, other scheme: reported.
            dep("absent", "1", Some("sparse+http://crates.example.com/reg/")),
            // Same host, other path, crate not here: another registry.
            dep(
                "absent",
                "1",
                Some("sparse+https://crates.example.com/other/"),
            ),
            // This registry's URL, crates.io, none: no registry field to judge.
            dep("x", "1", Some("sparse+http://localhost:9000/")),
            dep(
                "hello-util",
                "*",
                Some("https://github.com/rust-lang/crates.io-index"),
            ),
            dep("hello-util", "*", None),
        ];
        let found = misdirected(&s, &deps, here).unwrap();
        assert_eq!(
            found,
            [
                Misdirected {
                    dep: "hello-util".into(),
                    req: "^0.2".into(),
                    registry: "sparse+http://127.0.0.1:8000/".into(),
                    reason: Reason::CrateHere(semver::Version::new(0, 2, 0)),
                },
                Misdirected {
                    dep: "absent".into(),
                    req: "1".into(),
                    registry: "sparse+http://crates.example.com/reg/".into(),
                    reason: Reason::SamePlace("https://crates.example.com/reg".into()),
                },
            ]
        );
        let msg = found[0].message("hello-app-1.0.0.crate", &s);
        assert!(
            msg.contains(
                "regtool settings --alias http://127.0.0.1:8000` and then `regtool reindex`"
            ),
            "{msg}"
        );
    }
}
