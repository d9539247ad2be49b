//! `regtool list`: the crates the registry holds.
//! Floor 5 (`commands`).

use crate::error::Result;
use crate::index::{IndexFile, IndexPackage};
use crate::registry::Registry;
use serde::Serialize;

/// One crate in `list` (an item of its `--format json` array).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CrateSummary {
    /// Crate name as published.
    pub(crate) name: String,
    /// Highest release that is not yanked (else the highest pre-release, else the
    /// highest of all).
    pub(crate) latest: String,
    /// Number of versions.
    pub(crate) versions: usize,
    /// Number of yanked versions.
    pub(crate) yanked: usize,
}

/// The report of `list` (its `--format json` schema: an array of
/// [`CrateSummary`]).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub(crate) struct CrateList(pub Vec<CrateSummary>);

/// Lists every crate in the registry, sorted by name.
///
/// # Errors
/// [`crate::Error::Io`], [`crate::Error::IndexFile`] for an unreadable index file.
pub(crate) fn list(reg: &Registry) -> Result<CrateList> {
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
