//! `regtool reindex`: rebuild every index file from the `.crate` files under
//! `crates/`.
//!
//! Each `.crate` is read (in parallel) and its line derived from its manifest;
//! file names are not trusted. Versions that already had a line keep their
//! `yanked`, `pubtime`, unknown fields and place in the file; new ones are
//! appended in version order with the file's mtime as `pubtime`. Lines without a
//! `.crate` are reported and kept (dropped with `prune`). Only files whose bytes
//! change are written, so a second run changes nothing. This is also the way to
//! migrate: copy an Artifactory `crates/` folder in and run `reindex`.

use super::add::{limits, read_entry};
use crate::error::{Error, Result};
use crate::fs as rfs;
use crate::index::{IndexFile, IndexLine, IndexPackage, version_key};
use crate::name;
use crate::output::Shell;
use crate::registry::Registry;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options of `reindex`.
#[derive(Debug, Clone, Default)]
pub struct ReindexOptions {
    /// Drop index lines whose `.crate` is missing.
    pub prune: bool,
}

/// The report of `reindex` (its `--format json` schema).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReindexReport {
    /// `.crate` files read.
    pub crates_read: usize,
    /// Index files written (created or changed).
    pub index_files_written: Vec<String>,
    /// Index files removed (every line pruned).
    pub index_files_removed: Vec<String>,
    /// Lines added for `.crate` files that had none, as `name@version`.
    pub lines_added: Vec<String>,
    /// Lines whose `.crate` is missing, as `name@version` (kept unless pruned).
    pub missing_crates: Vec<String>,
    /// Whether missing lines were pruned.
    pub pruned: bool,
    /// `.crate` files moved to the path cargo downloads them from.
    pub moved: Vec<PathBuf>,
    /// `.crate` files that could not be indexed, with the reason.
    pub rejected: Vec<Rejected>,
}

/// A `.crate` that `reindex` could not index.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: String,
}

struct Found {
    path: PathBuf,
    entry: IndexPackage,
}

/// Rebuilds the index of `reg` from its `.crate` files.
///
/// `.crate` files that cannot be indexed are reported (as errors on the shell and
/// in [`ReindexReport::rejected`]); the others are indexed all the same.
///
/// # Errors
/// [`Error::Io`], [`Error::IndexFile`].
pub fn reindex(reg: &Registry, opts: &ReindexOptions, shell: &Shell) -> Result<ReindexReport> {
    let _lock = super::lock(reg, shell)?;
    let cleaned = reg.clean_stale_temp(std::time::Duration::from_secs(24 * 3600))?;
    if cleaned > 0 {
        shell.status(
            "Cleaned",
            format!("{cleaned} temporary files left by an interrupted regtool"),
        );
    }
    let files = reg.crate_files()?;
    let limits = limits(reg, None, None);
    let bar = shell.bar(files.len() as u64, "Reindexing");
    let read: Vec<(PathBuf, Result<IndexPackage>)> = files
        .par_iter()
        .map(|p| {
            let r = read_entry(reg, p, &limits, None).map(|(e, _)| e);
            bar.inc(1);
            (p.clone(), r)
        })
        .collect();
    bar.finish_and_clear();
    let mut report = ReindexReport {
        crates_read: files.len(),
        pruned: opts.prune,
        ..Default::default()
    };
    let mut problems = Vec::new();
    // Group by the index file each line belongs to.
    let mut groups: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for (path, r) in read {
        match r {
            Ok(entry) => groups
                .entry(name::index_path(&entry.name))
                .or_default()
                .push(Found { path, entry }),
            Err(e) => {
                report.rejected.push(Rejected {
                    path: path.clone(),
                    error: e.to_string(),
                });
                problems.push(e);
            }
        }
    }
    // Index files with no .crate at all still get their lines checked.
    for rel in reg.index_files()? {
        groups.entry(rel).or_default();
    }
    // Each index file is independent: rebuild them in parallel.
    let outcomes: Vec<Result<(ReindexReport, Vec<Error>)>> = groups
        .into_par_iter()
        .map(|(rel, found)| reindex_one(reg, rel, found, opts, shell))
        .collect();
    for outcome in outcomes {
        let (r, p) = outcome?;
        report.index_files_written.extend(r.index_files_written);
        report.index_files_removed.extend(r.index_files_removed);
        report.lines_added.extend(r.lines_added);
        report.missing_crates.extend(r.missing_crates);
        report.moved.extend(r.moved);
        report.rejected.extend(r.rejected);
        problems.extend(p);
    }
    shell.status(
        "Reindexed",
        format!(
            "{} .crate files; {} index files written, {} lines added",
            report.crates_read,
            report.index_files_written.len(),
            report.lines_added.len()
        ),
    );
    for p in &problems {
        shell.error(p);
    }
    Ok(report)
}

/// Rebuilds the index file `rel` from the `.crate` files `found` for it.
/// Returns what it did (in the fields of a [`ReindexReport`]) and the problems.
fn reindex_one(
    reg: &Registry,
    rel: String,
    mut found: Vec<Found>,
    opts: &ReindexOptions,
    shell: &Shell,
) -> Result<(ReindexReport, Vec<Error>)> {
    let mut report = ReindexReport::default();
    let mut problems = Vec::new();
    let path = reg.root().join(&rel);
    let old = IndexFile::load(&path)?;
    found.sort_by(|a, b| {
        let va = a.entry.version().ok();
        let vb = b.entry.version().ok();
        va.cmp(&vb).then_with(|| a.path.cmp(&b.path))
    });
    // The .crate must sit where the dl template points.
    let mut kept = Vec::new();
    for mut f in found {
        let want = reg.crate_path(&f.entry.name, &f.entry.vers);
        if f.path != want {
            if want.exists() {
                // Another file for this version is where cargo downloads from.
                if crate::crate_file::sha256_file(&want).is_ok_and(|sum| sum == f.entry.cksum) {
                    rfs::remove_file(&f.path)?;
                    shell.status(
                        "Removed",
                        format!("`{}` (a copy of `{}`)", f.path.display(), want.display()),
                    );
                } else {
                    let message = format!(
                        "`{}` holds {} v{} but `{}` holds other bytes for that version; remove one of them",
                        f.path.display(),
                        f.entry.name,
                        f.entry.vers,
                        want.display()
                    );
                    report.rejected.push(Rejected {
                        path: f.path.clone(),
                        error: message.clone(),
                    });
                    problems.push(Error::Usage(message));
                }
                continue;
            }
            rfs::create_dirs(want.parent().expect("crate path has a parent"))?;
            std::fs::rename(&f.path, &want).map_err(|e| Error::io("move", &f.path, e))?;
            rfs::sync_dir(want.parent().expect("parent"))?;
            shell.status(
                "Moved",
                format!("`{}` to `{}`", f.path.display(), want.display()),
            );
            report.moved.push(want.clone());
            f.path = want;
        }
        // Published files must be readable by the web server.
        rfs::ensure_file_mode(&f.path)?;
        kept.push(f);
    }
    let mut by_key: BTreeMap<_, Found> = BTreeMap::new();
    for f in kept {
        let Ok(v) = f.entry.version() else { continue };
        match by_key.entry(version_key(&v)) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(f);
            }
            std::collections::btree_map::Entry::Occupied(e) => {
                let message = format!(
                    "`{}` ({} v{}) is the same version as `{}` (v{}): versions that differ only in build metadata collide; remove one of them",
                    f.path.display(),
                    f.entry.name,
                    f.entry.vers,
                    e.get().path.display(),
                    e.get().entry.vers
                );
                report.rejected.push(Rejected {
                    path: f.path.clone(),
                    error: message.clone(),
                });
                problems.push(Error::Usage(message));
            }
        }
    }
    let mut lines: Vec<IndexLine> = Vec::new();
    for l in &old.lines {
        let key = l.package.version().ok().map(|v| version_key(&v));
        match key.and_then(|k| by_key.remove(&k)) {
            Some(f) => {
                let mut entry = f.entry;
                entry.yanked = l.package.yanked;
                entry.pubtime = l.package.pubtime.clone();
                entry.unknown = l.package.unknown.clone();
                lines.push(IndexLine {
                    raw: entry.to_line(),
                    package: entry,
                });
            }
            None => {
                let id = format!("{}@{}", l.package.name, l.package.vers);
                if !opts.prune {
                    shell.warn(format!(
                        "`{rel}`: {id} has no .crate file (kept; `--prune` drops it)"
                    ));
                    lines.push(l.clone());
                } else {
                    shell.status("Pruned", &id);
                }
                report.missing_crates.push(id);
            }
        }
    }
    for (_, f) in by_key {
        let mut entry = f.entry;
        let mtime = std::fs::metadata(&f.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .unwrap_or_else(jiff::Timestamp::now);
        entry.pubtime = Some(super::format_pubtime(mtime));
        report
            .lines_added
            .push(format!("{}@{}", entry.name, entry.vers));
        shell.status("Indexed", format!("{} v{}", entry.name, entry.vers));
        lines.push(IndexLine {
            raw: entry.to_line(),
            package: entry,
        });
    }
    let new = IndexFile { lines };
    if new.lines.is_empty() {
        if path.exists() {
            rfs::remove_file(&path)?;
            report.index_files_removed.push(rel);
        }
    } else if new.to_bytes() != old.to_bytes() || !path.exists() {
        rfs::write_atomic(&path, &new.to_bytes())?;
        report.index_files_written.push(rel);
    }
    Ok((report, problems))
}
