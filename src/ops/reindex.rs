//! `regtool reindex`: rebuild every index file from the `.crate` files under
//! `crates/`.
//!
//! Each `.crate` is read (in parallel) with the one crate reader and its line
//! derived from its manifest; file names are not trusted. Versions that already
//! had a line keep their `yanked`, `pubtime`, unknown fields and place in the
//! file; new ones are appended in version order with the file's mtime as
//! `pubtime`. Lines without a `.crate` are reported and kept (dropped with
//! `prune`). Only files whose bytes change are written, so a second run changes
//! nothing. This is also the way to migrate: copy an Artifactory `crates/` folder
//! in and run `reindex`.
//!
//! What reindex cannot justify it does not do: a stored `.crate` whose SHA-256 no
//! longer matches its line (damaged or replaced), a `.crate` it cannot read, two
//! spellings of one crate, two different files for one version: each is reported
//! and the run writes nothing (exit 1). `accept_changed` takes the new bytes of
//! changed `.crate` files, naming each. Stored crates are read without the size
//! limits for new input (they were accepted already); files that are not
//! index-shaped (`robots.txt`, `healthz`) are never touched. What is derived
//! from the index (the catalogue) is rebuilt from the new index.

use crate::error::{Error, Result};
use crate::index::{IndexFile, IndexLine, version_key};
use crate::layout;
use crate::name::{self, CrateName};
use crate::output::Shell;
use crate::reader::{self, Entry};
use crate::registry::Registry;
use crate::storage::{Durability, Outcome, Precondition, Revision};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

/// Options of `reindex`.
#[derive(Debug, Clone, Default)]
pub struct ReindexOptions {
    /// Drop index lines whose `.crate` is missing.
    pub prune: bool,
    /// Take the bytes of `.crate` files that changed since their line was
    /// written (a new `cksum`; every `Cargo.lock` pinning the old one breaks).
    pub accept_changed: bool,
    /// Work everything out and report it, but write nothing (`--dry-run`).
    pub dry_run: bool,
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
    /// Lines whose `cksum` changed with `--accept-changed`, as `name@version`.
    pub changed_cksums: Vec<String>,
    /// `.crate` files moved to the path cargo downloads them from.
    pub moved: Vec<PathBuf>,
    /// What stopped the run, one item per problem (nothing was written when
    /// this is not empty).
    pub rejected: Vec<Rejected>,
    /// Present (and `true`) with `--dry-run`: nothing was written; the lists
    /// above say what a real run would write, move and remove.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// A problem that stopped `reindex`.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file it is about.
    pub path: PathBuf,
    /// What is wrong.
    pub error: String,
}

/// A `.crate` read from the registry.
struct Found {
    key: String,
    entry: Entry,
}

/// One crate's index file as it is now.
struct OldIndex {
    key: String,
    file: IndexFile,
    revision: Revision,
}

/// What to do for one crate (one index file).
#[derive(Default)]
struct Group {
    old: Vec<OldIndex>,
    found: Vec<Found>,
}

/// A change to make once every crate has been checked.
enum Write {
    Move {
        from: String,
        to: String,
    },
    Delete(String),
    /// A `.crate` put in by hand: make it fit to serve.
    Fix(String),
    Index {
        name: CrateName,
        file: IndexFile,
        revision: Option<Revision>,
    },
}

/// Rebuilds the index of `reg` from its `.crate` files (see the module docs).
///
/// Returns the report; when [`ReindexReport::rejected`] is not empty nothing was
/// written.
///
/// # Errors
/// [`Error::Io`]; [`Error::IndexFile`] for an index file that cannot be read.
pub fn reindex(reg: &Registry, opts: &ReindexOptions, shell: &Shell) -> Result<ReindexReport> {
    let writer = reg.writer(shell)?;
    let mut report = ReindexReport {
        pruned: opts.prune,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut known_crates = HashSet::new();
    for key in reg.index_keys()? {
        let Some((file, revision)) = reg.read_index_key(&key)? else {
            continue;
        };
        let canonical = name::canonical(layout::index_key_name(&key).expect("index-shaped"));
        for l in &file.lines {
            if let Ok(n) = CrateName::new(&l.package.name) {
                known_crates.insert(layout::crate_key(&n, &l.package.vers));
            }
        }
        groups.entry(canonical).or_default().old.push(OldIndex {
            key,
            file,
            revision,
        });
    }
    let keys = reg.crate_keys()?;
    report.crates_read = keys.len();
    // New input (a `.crate` no line names yet) is judged by today's limits;
    // stored crates were accepted already.
    let input_limits = reader::input_limits(&reg.settings, None, None);
    let bar = shell.bar(keys.len() as u64, "Reindexing");
    let read: Vec<(String, Result<Entry>)> = keys
        .into_par_iter()
        .map(|key| {
            let limits = (!known_crates.contains(&key)).then_some(&input_limits);
            let r = reg.read_stored_crate(&key, limits);
            bar.inc(1);
            (key, r)
        })
        .collect();
    bar.finish_and_clear();
    let mut problems: Vec<(PathBuf, String)> = Vec::new();
    for (key, r) in read {
        match r {
            Ok(entry) => groups
                .entry(entry.name.canonical())
                .or_default()
                .found
                .push(Found { key, entry }),
            Err(e) => {
                let why = match &e {
                    Error::Crate { problem, .. } => problem.to_string(),
                    other => other.to_string(),
                };
                let what = if known_crates.contains(&key) {
                    "the .crate of an indexed version cannot be read"
                } else {
                    "cannot be indexed"
                };
                problems.push((reg.locate(&key), format!("{what}: {why}")));
            }
        }
    }

    let mut writes = Vec::new();
    for (_, group) in groups {
        plan_group(
            reg,
            group,
            opts,
            shell,
            &mut report,
            &mut writes,
            &mut problems,
        )?;
    }
    if !problems.is_empty() {
        for (path, error) in problems {
            shell.error(format!("`{}`: {error}", path.display()));
            report.rejected.push(Rejected { path, error });
        }
        shell.status(
            "Refused",
            format!(
                "{} problem(s); nothing was written (see `regtool reindex --help`)",
                report.rejected.len()
            ),
        );
        return Ok(report);
    }
    if opts.dry_run {
        dry_run_report(reg, writes, shell, &mut report);
        return Ok(report);
    }

    let cleaned = writer.clean_temp(std::time::Duration::from_secs(24 * 3600), true)?;
    if cleaned > 0 {
        shell.status(
            "Cleaned",
            format!("{cleaned} temporary files left by an interrupted regtool"),
        );
    }
    // `.crate` files first (they must be where the dl template points before a
    // line names them), then the index files, in parallel.
    let mut index_writes = Vec::new();
    for w in writes {
        match w {
            Write::Move { from, to } => {
                writer.move_crate(&from, &to)?;
                shell.status(
                    "Moved",
                    format!(
                        "`{}` to `{}`",
                        reg.locate(&from).display(),
                        reg.locate(&to).display()
                    ),
                );
                report.moved.push(reg.locate(&to));
            }
            Write::Delete(key) => {
                writer.delete_crate(&key)?;
                shell.status(
                    "Removed",
                    format!("`{}` (a copy)", reg.locate(&key).display()),
                );
            }
            Write::Fix(key) => writer.fix_crate(&key)?,
            Write::Index {
                name,
                file,
                revision,
            } => index_writes.push((name, file, revision)),
        }
    }
    index_writes
        .par_iter()
        .try_for_each(|(name, file, revision)| {
            let pre = Precondition::from_read(revision.clone());
            match writer.write_index(name, file, &pre, Durability::Now)? {
                Outcome::Done => Ok(()),
                Outcome::Conflict => Err(Error::Conflict {
                    path: reg.locate(&layout::index_key(name)),
                }),
            }
        })?;
    for (name, file, _) in index_writes {
        let key = layout::index_key(&name);
        if file.lines.is_empty() {
            report.index_files_removed.push(key);
        } else {
            report.index_files_written.push(key);
        }
    }
    // What is derived from the index (the catalogue), as the index is now.
    writer.rebuild_derived()?;
    shell.status(
        "Reindexed",
        format!(
            "{} .crate files; {} index files written, {} lines added",
            report.crates_read,
            report.index_files_written.len(),
            report.lines_added.len()
        ),
    );
    Ok(report)
}

/// Fills `report` with what `writes` would do, naming each on the shell.
fn dry_run_report(reg: &Registry, writes: Vec<Write>, shell: &Shell, report: &mut ReindexReport) {
    for w in writes {
        match w {
            Write::Move { from, to } => {
                shell.status(
                    "Would move",
                    format!(
                        "`{}` to `{}`",
                        reg.locate(&from).display(),
                        reg.locate(&to).display()
                    ),
                );
                report.moved.push(reg.locate(&to));
            }
            Write::Delete(key) => shell.status(
                "Would remove",
                format!("`{}` (a copy)", reg.locate(&key).display()),
            ),
            Write::Fix(_) => {}
            Write::Index { name, file, .. } => {
                let key = layout::index_key(&name);
                if file.lines.is_empty() {
                    shell.status("Would remove", format!("`{}`", reg.locate(&key).display()));
                    report.index_files_removed.push(key);
                } else {
                    shell.status("Would write", format!("`{}`", reg.locate(&key).display()));
                    report.index_files_written.push(key);
                }
            }
        }
    }
    shell.status(
        "Dry run",
        format!(
            "{} .crate files; {} index files would be written, {} lines added; nothing was written",
            report.crates_read,
            report.index_files_written.len(),
            report.lines_added.len()
        ),
    );
}

/// Works out one crate's new index file, the moves it needs, and its problems.
#[allow(clippy::too_many_arguments)]
fn plan_group(
    reg: &Registry,
    group: Group,
    opts: &ReindexOptions,
    shell: &Shell,
    report: &mut ReindexReport,
    writes: &mut Vec<Write>,
    problems: &mut Vec<(PathBuf, String)>,
) -> Result<()> {
    let Group { mut old, mut found } = group;
    // One crate, one spelling: in its index files and in its .crate files.
    let spellings: BTreeSet<&str> = old
        .iter()
        .filter_map(|o| o.file.lines.first().map(|l| l.package.name.as_str()))
        .chain(found.iter().map(|f| f.entry.line.name.as_str()))
        .collect();
    if old.len() > 1 || spellings.len() > 1 {
        let list: Vec<String> = spellings.iter().map(|s| format!("`{s}`")).collect();
        let path = old
            .first()
            .map(|o| reg.locate(&o.key))
            .or_else(|| found.first().map(|f| reg.locate(&f.key)))
            .unwrap_or_default();
        problems.push((
            path,
            format!(
                "the registry holds one crate under several names ({}; {} index files): names equal up to case and `-`/`_` are the same crate for cargo; keep one",
                list.join(", "),
                old.len()
            ),
        ));
        return Ok(());
    }
    let old = old.pop();
    // The published name: the index file's, else the crate's.
    let name = match old.as_ref().and_then(|o| o.file.lines.first()) {
        Some(l) => match CrateName::new(&l.package.name) {
            Ok(n) => n,
            Err(reason) => {
                let o = old.as_ref().expect("some");
                problems.push((
                    reg.locate(&o.key),
                    format!("invalid crate name `{}`: {reason}", l.package.name),
                ));
                return Ok(());
            }
        },
        None => match found.first() {
            Some(f) => f.entry.name.clone(),
            None => {
                // An empty index file: nothing to keep.
                if let Some(o) = old
                    && let Ok(n) = CrateName::new(layout::index_key_name(&o.key).unwrap_or(""))
                {
                    writes.push(Write::Index {
                        name: n,
                        file: IndexFile::default(),
                        revision: Some(o.revision),
                    });
                }
                return Ok(());
            }
        },
    };
    found.sort_by(|a, b| {
        (
            &a.entry.version,
            a.key != layout::crate_key(&name, &a.entry.line.vers),
        )
            .cmp(&(
                &b.entry.version,
                b.key != layout::crate_key(&name, &b.entry.line.vers),
            ))
    });
    // One file per version, where the dl template points.
    let mut by_key: BTreeMap<_, Found> = BTreeMap::new();
    // Where the file kept for each version was found (before a move).
    let mut found_at: BTreeMap<_, String> = BTreeMap::new();
    for f in found {
        let want = layout::crate_key(&name, &f.entry.line.vers);
        match by_key.get(&version_key(&f.entry.version)) {
            None => {
                if f.key != want {
                    if reg.stat(&want)?.is_some() {
                        // `want` holds other bytes that were unreadable: reported there.
                        continue;
                    }
                    writes.push(Write::Move {
                        from: f.key.clone(),
                        to: want.clone(),
                    });
                } else {
                    writes.push(Write::Fix(f.key.clone()));
                }
                found_at.insert(version_key(&f.entry.version), f.key.clone());
                by_key.insert(version_key(&f.entry.version), Found { key: want, ..f });
            }
            Some(first)
                if first.entry.line.cksum == f.entry.line.cksum
                    && first.entry.line.vers == f.entry.line.vers =>
            {
                // The same file seen through a linked folder is not a copy:
                // deleting it would delete the one that is kept.
                if !reg.same_object(&f.key, &found_at[&version_key(&f.entry.version)])? {
                    writes.push(Write::Delete(f.key));
                }
            }
            Some(first) => problems.push((
                reg.locate(&f.key),
                format!(
                    "holds {} v{} but `{}` holds other bytes for that version (versions that differ only in build metadata collide too); remove one of them",
                    f.entry.line.name,
                    f.entry.line.vers,
                    reg.locate(&first.key).display()
                ),
            )),
        }
    }
    let (old_file, revision) = match old {
        Some(o) => (o.file, Some(o.revision)),
        None => (IndexFile::default(), None),
    };
    let mut lines: Vec<IndexLine> = Vec::new();
    for l in &old_file.lines {
        let key = l.package.version().ok().map(|v| version_key(&v));
        let id = format!("{}@{}", l.package.name, l.package.vers);
        match key.and_then(|k| by_key.remove(&k)) {
            Some(f) => {
                let mut entry = f.entry.line;
                if entry.vers != l.package.vers {
                    // `1.1.0+b` for a line `1.1.0+a`: one version to cargo, but
                    // another version string; not a change --accept-changed takes.
                    problems.push((
                        reg.locate(&f.key),
                        format!(
                            "{id}: the .crate holds v{} (versions that differ only in build metadata collide): it is not the file of {id}; restore the original (`regtool add` of it) or remove the line first (`regtool remove {id}`)",
                            entry.vers
                        ),
                    ));
                    continue;
                }
                if entry.cksum != l.package.cksum {
                    if !opts.accept_changed {
                        problems.push((
                            reg.locate(&f.key),
                            format!(
                                "{id}: the .crate's SHA-256 is {} but its line says {}: the file was damaged or replaced after it was added; restore it (`regtool add` of the original file), or take the new bytes with `--accept-changed` (every Cargo.lock that pins {id} then breaks)",
                                entry.cksum, l.package.cksum
                            ),
                        ));
                        continue;
                    }
                    shell.warn(format!(
                        "{id}: cksum changed from {} to {} (--accept-changed)",
                        l.package.cksum, entry.cksum
                    ));
                    report.changed_cksums.push(id);
                }
                entry.yanked = l.package.yanked;
                entry.pubtime = l.package.pubtime.clone();
                entry.unknown = l.package.unknown.clone();
                lines.push(IndexLine {
                    raw: entry.to_line(),
                    package: entry,
                });
            }
            None => {
                if !opts.prune {
                    shell.warn(format!(
                        "`{}`: {id} has no .crate file (kept; `--prune` drops it)",
                        reg.locate(&layout::index_key(&name)).display()
                    ));
                    lines.push(l.clone());
                } else {
                    shell.status(
                        if opts.dry_run {
                            "Would prune"
                        } else {
                            "Pruned"
                        },
                        &id,
                    );
                }
                report.missing_crates.push(id);
            }
        }
    }
    for (version, f) in by_key {
        let mut entry = f.entry.line;
        // The file where it was found (a move comes later).
        let mtime = reg
            .stat(&found_at[&version])
            .ok()
            .flatten()
            .and_then(|m| m.modified)
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .unwrap_or_else(jiff::Timestamp::now);
        entry.pubtime = Some(crate::index::format_pubtime(mtime));
        report
            .lines_added
            .push(format!("{}@{}", entry.name, entry.vers));
        shell.status(
            if opts.dry_run {
                "Would index"
            } else {
                "Indexed"
            },
            format!("{} v{}", entry.name, entry.vers),
        );
        lines.push(IndexLine {
            raw: entry.to_line(),
            package: entry,
        });
    }
    let new = IndexFile { lines };
    if new.to_bytes() != old_file.to_bytes() || (revision.is_none() && !new.lines.is_empty()) {
        writes.push(Write::Index {
            name,
            file: new,
            revision,
        });
    }
    Ok(())
}
