//! `regtool list` and `regtool info`: what the registry holds.

use super::find::{find_version, load_existing};
use crate::error::{Error, Result};
use crate::index::{IndexFile, IndexPackage, RegistryDependency};
use crate::name::CrateName;
use crate::registry::Registry;
use serde::Serialize;
use std::collections::BTreeMap;

/// One crate in `list` (an item of its `--format json` array).
#[derive(Debug, Clone, Serialize)]
pub struct CrateSummary {
    /// Crate name as published.
    pub name: String,
    /// Highest release that is not yanked (else the highest pre-release, else the
    /// highest of all).
    pub latest: String,
    /// Number of versions.
    pub versions: usize,
    /// Number of yanked versions.
    pub yanked: usize,
}

/// The report of `list` (its `--format json` schema: an array of
/// [`CrateSummary`]).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct CrateList(pub Vec<CrateSummary>);

/// Lists every crate in the registry, sorted by name.
///
/// # Errors
/// [`Error::Io`], [`Error::IndexFile`] for an unreadable index file.
pub fn list(reg: &Registry) -> Result<CrateList> {
    let mut out = Vec::new();
    for key in reg.index_keys()? {
        let Some((index, _)) = reg.read_index_key(&key)? else {
            continue; // removed meanwhile
        };
        let Some(first) = index.lines.first() else {
            continue;
        };
        let yanked = index.lines.iter().filter(|l| l.package.yanked).count();
        out.push(CrateSummary {
            name: first.package.name.clone(),
            latest: latest(&index).map(|p| p.vers.clone()).unwrap_or_default(),
            versions: index.lines.len(),
            yanked,
        });
    }
    out.sort_by(|a, b| {
        (a.name.to_ascii_lowercase(), &a.name).cmp(&(b.name.to_ascii_lowercase(), &b.name))
    });
    Ok(CrateList(out))
}

/// The latest version as crates.io shows it: the highest release that is not
/// yanked, else the highest non-yanked pre-release, else the highest of all.
fn latest(index: &IndexFile) -> Option<&IndexPackage> {
    let best = |keep: &dyn Fn(&IndexPackage, &semver::Version) -> bool| {
        index
            .lines
            .iter()
            .map(|l| &l.package)
            .filter_map(|p| p.version().ok().map(|v| (v, p)))
            .filter(|(v, p)| keep(p, v))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, p)| p)
    };
    best(&|p, v| !p.yanked && v.pre.is_empty())
        .or_else(|| best(&|p, _| !p.yanked))
        .or_else(|| best(&|_, _| true))
}

/// One version in `info`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    /// Version.
    pub vers: String,
    /// Whether yanked.
    pub yanked: bool,
    /// Publication time.
    pub pubtime: Option<String>,
    /// SHA-256 of the `.crate`.
    pub cksum: String,
    /// Size of the `.crate` in bytes (`None` if the file is missing).
    pub size: Option<u64>,
    /// `rust-version`.
    pub rust_version: Option<String>,
    /// `links`.
    pub links: Option<String>,
    /// Dependencies.
    pub deps: Vec<RegistryDependency>,
    /// All features (`features` and `features2` merged).
    pub features: BTreeMap<String, Vec<String>>,
}

/// The report of `info` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub struct CrateInfo {
    /// Crate name as published.
    pub name: String,
    /// The index file.
    pub index_file: String,
    /// The versions shown: all, or the one asked for.
    pub versions: Vec<VersionInfo>,
    /// Whether one version was asked for (its details are shown as text).
    #[serde(skip)]
    pub detailed: bool,
}

/// Details of crate `name`, all versions or just `version`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown crate or version; [`Error::Io`],
/// [`Error::IndexFile`].
pub fn info(
    reg: &Registry,
    name: &CrateName,
    version: Option<&semver::Version>,
) -> Result<CrateInfo> {
    let stored = load_existing(reg, name)?;
    let index = &stored.index;
    let picked: Vec<&IndexPackage> = match version {
        Some(v) => vec![&index.lines[find_version(index, name, v)?].package],
        None => index.lines.iter().map(|l| &l.package).collect(),
    };
    let versions = picked
        .into_iter()
        .map(|p| {
            let mut features = p.features.clone();
            features.extend(p.features2.clone().unwrap_or_default());
            VersionInfo {
                vers: p.vers.clone(),
                yanked: p.yanked,
                pubtime: p.pubtime.clone(),
                cksum: p.cksum.clone(),
                size: reg
                    .stat(&Registry::crate_key(&stored.name, &p.vers))
                    .ok()
                    .flatten()
                    .map(|m| m.size),
                rust_version: p.rust_version.clone(),
                links: p.links.clone(),
                deps: p.deps.clone(),
                features,
            }
        })
        .collect();
    let first = &index
        .lines
        .first()
        .ok_or_else(|| Error::NotFound {
            message: format!("crate `{name}` has no versions"),
        })?
        .package;
    Ok(CrateInfo {
        name: first.name.clone(),
        index_file: Registry::index_key(&stored.name),
        versions,
        detailed: version.is_some(),
    })
}
