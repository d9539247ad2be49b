//! Publishing index lines another registry wrote, byte for byte (`regtool
//! mirror`): [`Writer::publish_verbatim`]. Floor 3 (`registry`).

use super::{Publication, Writer};
use crate::error::{CrateProblem, Error, Result};
use crate::index::{IndexFile, IndexLine, version_key};
use crate::name::CrateName;
use crate::storage::Durability;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One version to publish with its line exactly as upstream wrote it.
#[derive(Debug)]
pub(crate) struct VerbatimVersion {
    /// The crate (as the line names it).
    pub(crate) name: CrateName,
    /// The line: `raw` is written as it is, `package` is its parsed form.
    pub(crate) line: IndexLine,
    /// The versions of upstream's index file in its order, so that the line is
    /// put where upstream has it.
    pub(crate) upstream_order: Arc<Vec<String>>,
    /// The `.crate` in a staging file whose SHA-256 is the line's `cksum`
    /// (checked by the caller while downloading); `None` when the registry
    /// already holds that `.crate` (a killed run's orphan), which is checked here.
    pub(crate) file: Option<tempfile::NamedTempFile>,
}

/// What [`Writer::publish_verbatim`] did with one version.
#[derive(Debug)]
pub(crate) enum VerbatimOutcome {
    /// The line was written (with its `.crate`).
    Published,
    /// The same line was there already; its `.crate` was restored if it was
    /// missing or damaged and a file was given.
    Present,
}

/// One version's result.
#[derive(Debug)]
pub(crate) struct VerbatimResult {
    /// The crate.
    pub(crate) name: CrateName,
    /// The version.
    pub(crate) vers: String,
    /// Published, present, or why it was refused (nothing written for it).
    pub(crate) outcome: Result<VerbatimOutcome>,
}

impl Writer {
    /// Publishes lines written by another registry verbatim, each with its
    /// `.crate`, through [`Writer::publish`] (every `.crate` durable before
    /// the line naming it; dependencies' index files before dependents').
    /// The caller holds the registry lock. A version already present with the
    /// same bytes is left alone; one present with other bytes (or under another
    /// spelling of the name, or differing only in build metadata) is refused
    /// and nothing of it is written, while the other versions still land.
    /// Calls `on_published` for each crate whose index file is written.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if a write fails; [`Error::Conflict`] if an
    /// index file changed meanwhile. Per-version refusals come back in the
    /// results: [`Error::Crate`] with [`CrateProblem::NameConflict`],
    /// [`CrateProblem::VersionExists`] or [`CrateProblem::BuildMetadataConflict`];
    /// [`Error::NotFound`] for a `None` file whose `.crate` is not stored.
    pub(crate) fn publish_verbatim(
        &self,
        versions: Vec<VerbatimVersion>,
        durability: Durability,
        on_published: impl FnMut(&CrateName),
    ) -> Result<Vec<VerbatimResult>> {
        self.begin()?;
        let mut groups: BTreeMap<String, Vec<VerbatimVersion>> = BTreeMap::new();
        for v in versions {
            groups.entry(v.name.canonical()).or_default().push(v);
        }
        let mut results = Vec::new();
        let mut batch = Vec::new();
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (canonical, group) in groups {
            let name = group[0].name.clone();
            let mut stored = self.crates_named(&name)?;
            if let Some(other) = self.other_spelling(&name, &stored)? {
                for v in group {
                    let existing = other.to_string();
                    results.push(refused(
                        &v,
                        &self.locate(&crate::layout::index_key(&v.name)),
                        {
                            CrateProblem::NameConflict {
                                name: v.name.to_string(),
                                existing,
                            }
                        },
                    ));
                }
                continue;
            }
            let (mut index, revision) = match stored.pop() {
                Some(s) => (s.index, s.revision),
                None => (IndexFile::default(), None),
            };
            let mut crates = Vec::new();
            let mut added = Vec::new();
            let mut changed = false;
            for v in group {
                let pkg = &v.line.package;
                let key = crate::layout::crate_key(&name, &pkg.vers);
                let new_key = pkg.version().ok().map(|x| version_key(&x));
                let hit = index.lines.iter().find(|l| {
                    l.package.vers == pkg.vers
                        || (new_key.is_some()
                            && l.package.version().ok().map(|x| version_key(&x)) == new_key)
                });
                match hit {
                    Some(l) if l.raw == v.line.raw => {
                        if let Some(f) = v.file
                            && self.sha256(&key)?.as_deref() != Some(pkg.cksum.as_str())
                        {
                            crates.push((pkg.vers.clone(), f));
                        }
                        results.push(VerbatimResult {
                            name: v.name,
                            vers: v.line.package.vers,
                            outcome: Ok(VerbatimOutcome::Present),
                        });
                        continue;
                    }
                    Some(l) => {
                        let problem = if l.package.vers == pkg.vers {
                            CrateProblem::VersionExists {
                                name: pkg.name.clone(),
                                version: pkg.vers.clone(),
                                existing_cksum: l.package.cksum.clone(),
                                cksum: pkg.cksum.clone(),
                            }
                        } else {
                            CrateProblem::BuildMetadataConflict {
                                name: pkg.name.clone(),
                                version: pkg.vers.clone(),
                                existing: l.package.vers.clone(),
                            }
                        };
                        results.push(refused(
                            &v,
                            &self.locate(&crate::layout::index_key(&name)),
                            problem,
                        ));
                        continue;
                    }
                    None => {}
                }
                match v.file {
                    Some(f) => crates.push((pkg.vers.clone(), f)),
                    None if self.sha256(&key)?.as_deref() == Some(pkg.cksum.as_str()) => {}
                    None => {
                        results.push(VerbatimResult {
                            outcome: Err(Error::NotFound {
                                message: format!(
                                    "`{}` is missing or its SHA-256 is not the line's cksum {}",
                                    self.locate(&key).display(),
                                    pkg.cksum
                                ),
                            }),
                            name: v.name,
                            vers: v.line.package.vers,
                        });
                        continue;
                    }
                }
                deps.entry(canonical.clone())
                    .or_default()
                    .extend(dependency_names(pkg));
                insert_in_upstream_order(&mut index, v.line.clone(), &v.upstream_order);
                added.push((pkg.vers.clone(), None));
                changed = true;
                results.push(VerbatimResult {
                    name: v.name,
                    vers: v.line.package.vers,
                    outcome: Ok(VerbatimOutcome::Published),
                });
            }
            batch.push(Publication {
                name,
                level: 0,
                index: changed.then_some(index),
                revision,
                crates,
                added,
            });
        }
        let levels = levels(&deps);
        for p in &mut batch {
            p.level = levels.get(&p.name.canonical()).copied().unwrap_or(0);
        }
        self.publish(batch, durability, on_published)?;
        Ok(results)
    }
}

fn refused(v: &VerbatimVersion, path: &std::path::Path, problem: CrateProblem) -> VerbatimResult {
    VerbatimResult {
        name: v.name.clone(),
        vers: v.line.package.vers.clone(),
        outcome: Err(Error::krate(path, problem)),
    }
}

/// Puts `line` before the first line that comes after it in upstream's file
/// (at the end if none does), so a mirror of every version equals upstream's file.
fn insert_in_upstream_order(index: &mut IndexFile, line: IndexLine, order: &[String]) {
    let pos = |vers: &str| order.iter().position(|v| v == vers);
    let at = pos(&line.package.vers).and_then(|mine| {
        index
            .lines
            .iter()
            .position(|l| pos(&l.package.vers).is_some_and(|p| p > mine))
    });
    match at {
        Some(i) => index.lines.insert(i, line),
        None => index.lines.push(line),
    }
}

/// The canonical names of the crates of this registry that a line needs to be
/// resolved: its normal and build dependencies (dev-dependencies are not
/// resolved for a dependent; `registry` ones live elsewhere).
pub(crate) fn dependency_names(
    pkg: &crate::index::IndexPackage,
) -> impl Iterator<Item = String> + '_ {
    pkg.deps
        .iter()
        .filter(|d| d.registry.is_none() && d.kind != crate::index::DepKind::Dev)
        .map(|d| crate::name::canonical(d.package.as_deref().unwrap_or(&d.name)))
}

/// Each crate's level: 0 when it depends on no other crate of the batch, else
/// one more than the highest level of those (cycles are cut at the batch size).
pub(crate) fn levels(deps: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, usize> {
    let mut level: BTreeMap<String, usize> = deps.keys().map(|k| (k.clone(), 0)).collect();
    for _ in 0..deps.len() {
        let mut changed = false;
        for (name, ds) in deps {
            let want = ds
                .iter()
                .filter(|d| *d != name)
                .filter_map(|d| level.get(d))
                .map(|l| (l + 1).min(deps.len()))
                .max()
                .unwrap_or(0);
            if want > level[name] {
                level.insert(name.clone(), want);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_put_dependencies_first() {
        let mut deps = BTreeMap::new();
        deps.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
        deps.insert(
            "b".to_string(),
            BTreeSet::from(["c".to_string(), "zzz".to_string()]),
        );
        deps.insert("c".to_string(), BTreeSet::new());
        let l = levels(&deps);
        assert_eq!((l["a"], l["b"], l["c"]), (2, 1, 0));
    }
}
