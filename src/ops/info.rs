//! `regtool info`: a crate's versions, or one version's details.
//! Floor 5 (`commands`).

use super::find::{find_version, load_existing};
use crate::error::{Error, Result};
use crate::index::{IndexPackage, RegistryDependency};
use crate::name::CrateName;
use crate::registry::Registry;
use serde::Serialize;
use std::collections::BTreeMap;

/// One version in `info`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VersionInfo {
    /// Version.
    pub(crate) vers: String,
    /// Whether yanked.
    pub(crate) yanked: bool,
    /// Publication time.
    pub(crate) pubtime: Option<String>,
    /// SHA-256 of the `.crate`.
    pub(crate) cksum: String,
    /// Size of the `.crate` in bytes (`None` if the file is missing).
    pub(crate) size: Option<u64>,
    /// `rust-version`.
    pub(crate) rust_version: Option<String>,
    /// `links`.
    pub(crate) links: Option<String>,
    /// Dependencies.
    pub(crate) deps: Vec<RegistryDependency>,
    /// All features (`features` and `features2` merged).
    pub(crate) features: BTreeMap<String, Vec<String>>,
}

/// The report of `info` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CrateInfo {
    /// Crate name as published.
    pub(crate) name: String,
    /// The index file.
    pub(crate) index_file: String,
    /// The versions shown: all, or the one asked for.
    pub(crate) versions: Vec<VersionInfo>,
    /// Whether one version was asked for (its details are shown as text).
    #[serde(skip)]
    pub(crate) detailed: bool,
}

/// What `info` is asked for.
#[derive(Debug, Clone)]
pub(crate) struct InfoOptions {
    /// The crate (any spelling of it).
    pub(crate) name: CrateName,
    /// Only this version, with its dependencies and features.
    pub(crate) version: Option<semver::Version>,
}

/// Details of crate `opts.name`, all versions or just `opts.version`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown crate or version; [`Error::Io`],
/// [`Error::IndexFile`].
pub(crate) fn info(reg: &Registry, opts: &InfoOptions) -> Result<CrateInfo> {
    let (name, version) = (&opts.name, opts.version.as_ref());
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
                    .stat(&crate::layout::crate_key(&stored.name, &p.vers))
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
        index_file: crate::layout::index_key(&stored.name),
        versions,
        detailed: version.is_some(),
    })
}
