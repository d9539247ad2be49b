//! From a normalized `Cargo.toml` (as `cargo package` writes it) to the index
//! entry crates.io would write for it.
//!
//! The manifest is read with cargo's own schema (`cargo_util_schemas::manifest::
//! TomlManifest`) and targets are rendered with `cargo_platform`, so regtool sees
//! what cargo sees. Fields and dependencies come out as crates.io writes them:
//! dependencies sorted by (name, kind, req), `features2` for features using
//! `dep:` or `?/`, a dependency's `registry` omitted when it is this registry
//! (or crates.io for a mirror). Floor 1 (`input`): imports the core only.
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>.

use crate::config::{Settings, normalize_url};
use crate::error::CrateProblem;
use crate::index::{CRATES_IO_INDEX, DepKind, IndexPackage, RegistryDependency};
use crate::name::CrateName;
use cargo_util_schemas::manifest::{
    InheritableDependency, PackageName, TomlDependency, TomlManifest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// crates.io's limit on dependencies per version.
pub(crate) const MAX_DEPENDENCIES: usize = 500;
/// Limit on features per version. crates.io's default is 300, but it raises it
/// for crates that need more (web-sys has 1727), and a registry must take those
/// crates: 3000 still stops a hostile manifest.
pub(crate) const MAX_FEATURES: usize = 3000;
/// crates.io's limit on values per feature.
pub(crate) const MAX_FEATURE_VALUES: usize = 300;

/// Where the dependencies of a registry point: what counts as "this registry"
/// and whether the registry stands in for crates.io.
#[derive(Debug, Clone)]
pub struct DepContext<'a> {
    /// The registry's settings (own URLs, mirror flag).
    pub settings: &'a Settings,
}

/// Builds the index entry for a packaged manifest. `cksum` and `pubtime` are left
/// for the caller (`cksum` empty, `pubtime` `None`).
///
/// # Errors
/// [`CrateProblem::InvalidManifest`] when the bytes are not UTF-8, not TOML, not a
/// manifest cargo can read, not normalized (workspace inheritance left), or hold an
/// invalid version, requirement or target; [`CrateProblem::InvalidName`];
/// [`CrateProblem::OverLimit`] past crates.io's limits.
pub fn to_index_package(bytes: &[u8], ctx: &DepContext<'_>) -> Result<IndexPackage, CrateProblem> {
    read(bytes, ctx).map(|r| r.package)
}

/// A packaged manifest as [`read`] gives it.
#[derive(Debug)]
pub(crate) struct Manifest {
    /// Its index entry, as [`to_index_package`] gives it.
    pub(crate) package: IndexPackage,
    /// The manifest as plain TOML, from the same parse (the catalogue's
    /// metadata is read from it: [`crate::meta::from_table`]).
    pub(crate) table: toml::Table,
}

/// [`to_index_package`], with the manifest as plain TOML: one parse of its
/// text gives both.
///
/// # Errors
/// As [`to_index_package`].
pub(crate) fn read(bytes: &[u8], ctx: &DepContext<'_>) -> Result<Manifest, CrateProblem> {
    let invalid = |m: String| CrateProblem::InvalidManifest(m);
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8".into()))?;
    // Names first, on the plain TOML: cargo's schema would refuse them in its own
    // words (Unicode XID rules, "invalid type: map") before ours could speak.
    let table: toml::Table = toml::from_str(text).map_err(|e| invalid(toml_error(text, &e)))?;
    check_names(&table)?;
    let manifest: TomlManifest = toml::from_str(text).map_err(|e| invalid(toml_error(text, &e)))?;
    let package = manifest
        .package
        .as_deref()
        .or(manifest.project.as_deref())
        .ok_or_else(|| invalid("no `[package]` table".into()))?;
    let name = package
        .name
        .as_ref()
        .ok_or_else(|| invalid("no `package.name`".into()))?
        .as_str();
    CrateName::new(name).map_err(|reason| CrateProblem::InvalidName {
        name: name.to_string(),
        reason,
    })?;
    let version = package
        .version
        .as_ref()
        .ok_or_else(|| invalid("no `package.version`".into()))?
        .as_value()
        .ok_or_else(|| {
            invalid(
                "`package.version` inherits from a workspace; the manifest is not normalized (`cargo package` resolves workspace inheritance: use the file it writes)"
                    .into(),
            )
        })?;
    let rust_version = match &package.rust_version {
        None => None,
        Some(rv) => Some(
            rv.as_value()
                .ok_or_else(|| invalid("`package.rust-version` inherits from a workspace".into()))?
                .to_string(),
        ),
    };

    let mut deps = Vec::new();
    let tables = [
        (None, manifest.dependencies.as_ref(), DepKind::Normal),
        (
            None,
            manifest
                .build_dependencies
                .as_ref()
                .or(manifest.build_dependencies2.as_ref()),
            DepKind::Build,
        ),
        (
            None,
            manifest
                .dev_dependencies
                .as_ref()
                .or(manifest.dev_dependencies2.as_ref()),
            DepKind::Dev,
        ),
    ];
    let era = CargoEra::of(text, package);
    for (target, table, kind) in tables {
        push_deps(&mut deps, target, table, kind, era, ctx)?;
    }
    for (platform, t) in manifest.target.iter().flatten() {
        // Written as cargo-platform renders it (`cfg(target_os = "hermit")`), not
        // as the manifest spells it: see `docs/conformance.md` ("target strings").
        // Cargo has always sent `dep.platform().to_string()` in the publish
        // request, which crates.io wrote until it began reading dependencies from
        // the packaged Cargo.toml (crates.io PR #7238, October 2023); its lines
        // from then until 2025 keep the manifest's spelling (errno 0.3.5 to
        // 0.3.14), and its newest lines are rendered again (errno 0.3.15, whose
        // packaged Cargo.toml is byte-identical to 0.3.14's but for the version).
        // No field of the manifest tells those publish dates apart.
        let rendered = cargo_platform::Platform::from_str(platform)
            .map_err(|e| invalid(format!("invalid target `{platform}`: {e}")))?
            .to_string();
        let target = Some(rendered.as_str());
        push_deps(
            &mut deps,
            target,
            t.dependencies.as_ref(),
            DepKind::Normal,
            era,
            ctx,
        )?;
        push_deps(
            &mut deps,
            target,
            t.build_dependencies(),
            DepKind::Build,
            era,
            ctx,
        )?;
        push_deps(
            &mut deps,
            target,
            t.dev_dependencies(),
            DepKind::Dev,
            era,
            ctx,
        )?;
    }
    if deps.len() > MAX_DEPENDENCIES {
        return Err(CrateProblem::OverLimit {
            what: "dependencies".into(),
            count: deps.len(),
            limit: MAX_DEPENDENCIES,
        });
    }
    deps.sort_by(|a, b| (&a.name, a.kind, &a.req).cmp(&(&b.name, b.kind, &b.req)));

    let all: BTreeMap<String, Vec<String>> = manifest
        .features
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if all.len() > MAX_FEATURES {
        return Err(CrateProblem::OverLimit {
            what: "features".into(),
            count: all.len(),
            limit: MAX_FEATURES,
        });
    }
    if let Some((f, v)) = all.iter().find(|(_, v)| v.len() > MAX_FEATURE_VALUES) {
        return Err(CrateProblem::OverLimit {
            what: format!("values in feature `{f}`"),
            count: v.len(),
            limit: MAX_FEATURE_VALUES,
        });
    }
    let (features, features2) = split_features(all);

    let package = IndexPackage {
        name: name.to_string(),
        vers: version.to_string(),
        deps,
        cksum: String::new(),
        features,
        v: features2.as_ref().map(|_| 2),
        features2,
        yanked: false,
        links: package.links.clone(),
        rust_version,
        pubtime: None,
        unknown: Default::default(),
    };
    Ok(Manifest { package, table })
}

/// The dependency tables of a manifest, as cargo spells them (the `_` forms are
/// older spellings cargo still reads).
const DEP_TABLES: [&str; 5] = [
    "dependencies",
    "build-dependencies",
    "build_dependencies",
    "dev-dependencies",
    "dev_dependencies",
];

/// The dependency tables of `t` (`dependencies`, `build-dependencies`...),
/// each with its path in the manifest (`prefix` first), added to `out`.
fn dependency_tables<'a>(
    prefix: &str,
    t: &'a toml::Table,
    out: &mut Vec<(String, &'a toml::Table)>,
) {
    for name in DEP_TABLES {
        if let Some(deps) = t.get(name).and_then(toml::Value::as_table) {
            out.push((format!("{prefix}{name}"), deps));
        }
    }
}

/// Checks the names in a parsed manifest before cargo's schema reads it:
/// `package.name` follows the registry's rule ([`CrateName::new`]) and is not
/// inherited from a workspace; dependency names and `package` renames follow
/// cargo's rule ([`PackageName::new`]; a dependency may live in another
/// registry, whose names need not be crates.io's), each error naming the table.
fn check_names(table: &toml::Table) -> Result<(), CrateProblem> {
    let package = ["package", "project"]
        .iter()
        .find_map(|k| table.get(*k).and_then(toml::Value::as_table));
    match package.and_then(|p| p.get("name")) {
        Some(toml::Value::String(name)) => {
            CrateName::new(name).map_err(|reason| CrateProblem::InvalidName {
                name: name.clone(),
                reason,
            })?;
        }
        Some(toml::Value::Table(t)) if t.contains_key("workspace") => {
            return Err(CrateProblem::InvalidManifest(
                "`package.name` inherits from a workspace; the manifest is not normalized (`cargo package` resolves workspace inheritance: use the file it writes)".into(),
            ));
        }
        _ => {} // missing or of another type: the schema says so
    }
    let mut tables = Vec::new();
    dependency_tables("", table, &mut tables);
    for (platform, t) in table
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flatten()
    {
        if let Some(t) = t.as_table() {
            dependency_tables(&format!("target.'{platform}'."), t, &mut tables);
        }
    }
    for (where_, deps) in tables {
        for (key, dep) in deps {
            if let Err(e) = PackageName::new(key.as_str()) {
                return Err(CrateProblem::InvalidManifest(format!(
                    "invalid dependency name `{key}` in `[{where_}]`: {e}"
                )));
            }
            if let Some(package) = dep.get("package").and_then(toml::Value::as_str)
                && let Err(e) = PackageName::new(package)
            {
                return Err(CrateProblem::InvalidManifest(format!(
                    "invalid `package` name `{package}` of dependency `{key}` in `[{where_}]`: {e}"
                )));
            }
        }
    }
    Ok(())
}

fn push_deps(
    out: &mut Vec<RegistryDependency>,
    target: Option<&str>,
    table: Option<&BTreeMap<PackageName, InheritableDependency>>,
    kind: DepKind,
    era: CargoEra,
    ctx: &DepContext<'_>,
) -> Result<(), CrateProblem> {
    for (key, dep) in table.into_iter().flatten() {
        let dep = match dep {
            InheritableDependency::Value(d) => d,
            InheritableDependency::Inherit(_) => {
                return Err(CrateProblem::InvalidManifest(format!(
                    "dependency `{key}` inherits from a workspace; the manifest is not normalized (use the file `cargo package` writes)"
                )));
            }
        };
        let (req, detail) = match dep {
            TomlDependency::Simple(req) => (req.as_str(), None),
            TomlDependency::Detailed(d) => match &d.version {
                Some(req) => (req.as_str(), Some(d)),
                // path- or git-only: `cargo package` keeps such a dependency only
                // as a dev-dependency it could not publish; not part of the crate.
                None if d.path.is_some() || d.git.is_some() => continue,
                // No source at all (`foo = {}`, an empty `[dependencies.foo]`):
                // cargo reads it as any version, and crates.io writes `*`.
                None => ("*", Some(d)),
            },
        };
        let parsed = semver::VersionReq::parse(req.trim()).map_err(|e| {
            CrateProblem::InvalidManifest(format!(
                "dependency `{key}` has an invalid version requirement `{req}`: {e}"
            ))
        })?;
        let req = match era {
            CargoEra::Semver0 => semver0_wildcards(req.trim()),
            CargoEra::Semver1 => None,
        }
        .unwrap_or_else(|| parsed.to_string());
        let registry_index = detail.and_then(|d| d.registry_index.as_deref());
        if registry_index.is_none() && detail.and_then(|d| d.registry.as_ref()).is_some() {
            return Err(CrateProblem::InvalidManifest(format!(
                "dependency `{key}` names a `registry` but no `registry-index`; the manifest is not normalized"
            )));
        }
        out.push(RegistryDependency {
            name: key.to_string(),
            req,
            features: detail.and_then(|d| d.features.clone()).unwrap_or_default(),
            optional: dep.is_optional(),
            default_features: dep.default_features().unwrap_or(true),
            target: target.map(str::to_string),
            kind,
            registry: registry_for(registry_index, ctx),
            package: detail
                .and_then(|d| d.package.as_ref())
                .map(|p| p.to_string()),
            unknown: Default::default(),
        });
    }
    Ok(())
}

/// Which `semver` crate rendered a dependency's requirement for crates.io: the
/// one of the cargo that packaged the crate, which sent `version_req.to_string()`
/// in the publish request. Told from the packaged `Cargo.toml` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CargoEra {
    /// cargo before 1.54 (semver 0.x; cargo moved to semver 1.0 in PR #9508,
    /// May 2021): a wildcard requirement is written as spelled (`1.*.*`), and an
    /// operator before a wildcard is dropped (`^0.*` is `0.*`).
    Semver0,
    /// cargo 1.54 and later, and any manifest not recognizably older.
    Semver1,
}

impl CargoEra {
    /// `cargo package` has normalized the manifest and put a header on it since
    /// 2017. Until cargo 1.53 the header asked readers to file an issue ("If you
    /// believe there's an error in this file ..."); from cargo 1.54 it points to
    /// `Cargo.toml.orig` instead (first seen on crates.io the day 1.54 shipped).
    /// A manifest with no header and no `edition` (stable since cargo 1.31) is
    /// the raw file of a cargo from before the normalization (2015 to 2017).
    fn of(text: &str, package: &cargo_util_schemas::manifest::TomlPackage) -> CargoEra {
        const GENERATED: &str = "# THIS FILE IS AUTOMATICALLY GENERATED BY CARGO";
        const OLD_HEADER: &str = "# If you believe there's an error in this file please file an";
        let header: Vec<&str> = text
            .lines()
            .take_while(|l| l.starts_with('#') || l.trim().is_empty())
            .collect();
        let generated = header.iter().any(|l| l.trim_end() == GENERATED);
        let old_header = header.iter().any(|l| l.trim_end() == OLD_HEADER);
        if (generated && old_header) || (!generated && package.edition.is_none()) {
            CargoEra::Semver0
        } else {
            CargoEra::Semver1
        }
    }
}

/// A requirement with a wildcard as cargo's semver 0.x wrote it, or `None` when
/// it has no wildcard (then it reads the same in both eras, but for the space
/// semver 0.9 put after `=`, `>=`, ... which readers ignore). Each comma-separated
/// part with a wildcard keeps its written positions: `*`, `1.*`, `1.*.*`,
/// `1.2.*`, any operator before it dropped; the other parts are rendered by
/// semver 1 (valid: the whole requirement parsed).
fn semver0_wildcards(req: &str) -> Option<String> {
    let is_wild = |c: &str| matches!(c, "*" | "x" | "X");
    let parts: Vec<&str> = req.split(',').map(str::trim).collect();
    let mut any_wild = false;
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let bare = part.trim_start_matches(|c: char| "=<>~^".contains(c) || c.is_whitespace());
        let comps: Vec<&str> = bare.split('.').collect();
        match comps.iter().position(|c| is_wild(c)) {
            Some(0) => out.push("*".to_string()),
            Some(first) => {
                let mut s = comps[..first].join(".");
                for _ in first..comps.len() {
                    s.push_str(".*");
                }
                out.push(s);
            }
            None => {
                out.push(semver::VersionReq::parse(part).ok()?.to_string());
                continue;
            }
        }
        any_wild = true;
    }
    any_wild.then(|| out.join(", "))
}

fn is_crates_io(url: &str) -> bool {
    matches!(
        normalize_url(url),
        "https://github.com/rust-lang/crates.io-index" | "https://index.crates.io"
    )
}

/// The `registry` field of a dependency whose normalized manifest has
/// `registry-index = registry_index` (`None`: crates.io).
fn registry_for(registry_index: Option<&str>, ctx: &DepContext<'_>) -> Option<String> {
    match registry_index {
        Some(url) if ctx.settings.is_own_index(url) => None,
        Some(url) if !is_crates_io(url) => Some(url.to_string()),
        _ if ctx.settings.mirror => None,
        _ => Some(CRATES_IO_INDEX.to_string()),
    }
}

/// A `[features]` table: feature name to the features and dependencies it enables.
pub(crate) type FeatureMap = BTreeMap<String, Vec<String>>;

/// Splits `[features]` as crates.io does: features whose values use `dep:` or
/// `?/` go to `features2`, and so, repeatedly, does every feature that names one
/// of those. Returns `(features, features2)`; `features2` is `None` when empty.
pub(crate) fn split_features(all: FeatureMap) -> (FeatureMap, Option<FeatureMap>) {
    let mut new_syntax: BTreeSet<String> = all
        .iter()
        .filter(|(_, vals)| {
            vals.iter()
                .any(|v| v.starts_with("dep:") || v.contains("?/"))
        })
        .map(|(k, _)| k.clone())
        .collect();
    loop {
        let more: Vec<String> = all
            .iter()
            .filter(|(k, vals)| {
                !new_syntax.contains(*k) && vals.iter().any(|v| new_syntax.contains(v))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        new_syntax.extend(more);
    }
    let (f2, f1): (BTreeMap<_, _>, BTreeMap<_, _>) =
        all.into_iter().partition(|(k, _)| new_syntax.contains(k));
    (f1, if f2.is_empty() { None } else { Some(f2) })
}

/// A TOML error as one short line: the position and the parser's message, never
/// the offending source line (which can be megabytes long).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut msg: String = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE)
            .rev()
            .find(|i| msg.is_char_boundary(*i))
            .unwrap_or(0);
        msg.truncate(cut);
        msg.push('…');
    }
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("TOML error at line {line}, column {column}: {msg}")
        }
        None => format!("TOML error: {msg}"),
    }
}

/// Longest parser message quoted in an error, in bytes.
const MAX_MESSAGE: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_split_as_crates_io_does() {
        let mut all = FeatureMap::new();
        all.insert("std".into(), vec!["memchr?/std".into()]);
        all.insert("default".into(), vec!["std".into()]);
        all.insert("alloc".into(), vec![]);
        let (features, features2) = split_features(all);
        assert_eq!(features.keys().collect::<Vec<_>>(), ["alloc"]);
        assert_eq!(
            features2.unwrap().keys().collect::<Vec<_>>(),
            ["default", "std"]
        );
    }

    #[test]
    fn semver0_keeps_wildcards_as_written_and_drops_their_operator() {
        let old = |r: &str| semver0_wildcards(r);
        assert_eq!(old("^0.*").as_deref(), Some("0.*"));
        assert_eq!(old("1.*.*").as_deref(), Some("1.*.*"));
        assert_eq!(old("0.10.*").as_deref(), Some("0.10.*"));
        assert_eq!(old("~1.x").as_deref(), Some("1.*"));
        assert_eq!(old("*").as_deref(), Some("*"));
        assert_eq!(old(">= 1.2, 1.*").as_deref(), Some(">=1.2, 1.*"));
        assert_eq!(old(">= 1.2, < 2"), None);
        assert_eq!(old("0.3"), None);
    }

    #[test]
    fn features_naming_new_syntax_move_to_features2() {
        let mut all = BTreeMap::new();
        all.insert(
            "default".to_string(),
            vec!["std".to_string(), "a".to_string()],
        );
        all.insert("std".to_string(), vec!["memchr?/std".to_string()]);
        all.insert("a".to_string(), vec![]);
        all.insert("top".to_string(), vec!["default".to_string()]);
        let (f1, f2) = split_features(all);
        assert_eq!(f1.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(
            f2.unwrap().keys().collect::<Vec<_>>(),
            vec!["default", "std", "top"]
        );
    }
}
