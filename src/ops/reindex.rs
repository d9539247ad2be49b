//! `regtool reindex`: rebuild every index file from the `.crate` files under
//! `crates/`.
//! Floor 5 (`commands`).
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
//! spellings of one crate that no index file (or, in a bucket, name claim)
//! decides between, two different files for one version, a file at the key of
//! an indexed version that holds another version (`foo-1.0.0.crate` holding
//! foo 2.0.0: no new version is derived from it, and 1.0.0's line is not taken
//! for missing): each is reported and the run writes nothing (exit 1). A
//! `.crate` under another spelling than the one its crate's index file or
//! claim has is an orphan (a killed `add`'s leftover, or a copy by hand): left
//! out and reported (`left_out`). On a `--mirror` registry a line whose
//! `cksum` is its `.crate`'s is kept byte for byte (upstream's line, which no
//! derivation need reproduce). `accept_changed` takes the new bytes of
//! changed `.crate` files, naming each. Stored crates are read without the size
//! limits for new input (they were accepted already); files that are not
//! index-shaped (`robots.txt`, `healthz`) are never touched. What is derived
//! from the index (the catalogue) is rebuilt from the new index.

use crate::error::{Error, Result};
use crate::index::{IndexFile, IndexLine, version_key};
use crate::layout;
use crate::name::{self, CrateName};
use crate::output::{Shell, count};
use crate::reader::{self, Entry};
use crate::registry::{IndexSnapshot, Registry, Writer};
use crate::storage::{Durability, Outcome, Precondition, Revision};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

/// Options of `reindex`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReindexOptions {
    /// Drop index lines whose `.crate` is missing.
    pub(crate) prune: bool,
    /// Take the bytes of `.crate` files that changed since their line was
    /// written (a new `cksum`; every `Cargo.lock` pinning the old one breaks).
    pub(crate) accept_changed: bool,
    /// Work everything out and report it, but write nothing (`--dry-run`).
    pub(crate) dry_run: bool,
}

/// The report of `reindex` (its `--format json` schema).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct ReindexReport {
    /// `.crate` files read.
    pub(crate) crates_read: usize,
    /// Index files written (created or changed).
    pub(crate) index_files_written: Vec<String>,
    /// Index files removed (every line pruned).
    pub(crate) index_files_removed: Vec<String>,
    /// Lines added for `.crate` files that had none, as `name@version`.
    pub(crate) lines_added: Vec<String>,
    /// Lines whose `.crate` is missing, as `name@version` (kept unless pruned).
    pub(crate) missing_crates: Vec<String>,
    /// Whether missing lines were pruned.
    pub(crate) pruned: bool,
    /// Lines whose `cksum` changed with `--accept-changed`, as `name@version`.
    pub(crate) changed_cksums: Vec<String>,
    /// `.crate` files moved to the path cargo downloads them from.
    pub(crate) moved: Vec<PathBuf>,
    /// `.crate` files of a crate under a spelling its index file (or, in a
    /// bucket, its name claim) does not have: orphans (a killed `add`'s
    /// leftover, or a copy by hand), left out of the index and untouched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) left_out: Vec<PathBuf>,
    /// Name claims released (a registry in a bucket): canonical names with
    /// no index file and no `.crate` left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) claims_released: Vec<String>,
    /// What stopped the run, one item per problem (nothing was written when
    /// this is not empty).
    pub(crate) rejected: Vec<Rejected>,
    /// Present (and `true`) with `--dry-run`: nothing was written; the lists
    /// above say what a real run would write, move and remove.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
}

/// A problem that stopped `reindex`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rejected {
    /// The file it is about.
    pub(crate) path: PathBuf,
    /// What is wrong.
    pub(crate) error: String,
}

/// A version as cargo compares them (build metadata left out).
type VersionKey = (u64, u64, u64, String);

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

/// What a run works out before it writes anything: the report so far, the
/// writes to make, and the problems that stop it.
struct Run<'a> {
    reg: &'a Registry,
    opts: &'a ReindexOptions,
    shell: &'a Shell,
    report: ReindexReport,
    writes: Vec<Write>,
    problems: Vec<(PathBuf, String)>,
    /// The key of every `.crate` an index line names.
    indexed: HashSet<String>,
    /// The index files left as they are (key, file), handed to the
    /// catalogue with the ones written so that it reads none again.
    kept: Vec<(String, IndexFile)>,
    /// An index file is written at another key than the one it was read
    /// at (another spelling): the catalogue then reads the index itself.
    moved_index: bool,
}

/// Rebuilds the index of `reg` from its `.crate` files (see the module docs).
///
/// Returns the report; when [`ReindexReport::rejected`] is not empty nothing was
/// written.
///
/// # Errors
/// [`Error::Io`]; [`Error::IndexFile`] for an index file that cannot be read.
pub(crate) fn reindex(
    reg: &Registry,
    opts: &ReindexOptions,
    shell: &Shell,
) -> Result<ReindexReport> {
    let writer = reg.writer(shell)?;
    // Refused here, dry run or not, when the change could not be carried
    // through (the catalogue in a build without it).
    writer.can_change()?;
    let mut attempt = 0;
    loop {
        match reindex_once(&writer, opts, shell) {
            // In a bucket an index file may change under a holder paused
            // past its lease, or by hand: work it out again from what is
            // there now, as `add` re-applies its lines.
            Err(Error::Conflict { path }) if writer.lock_is_lease() && attempt < RETRIES => {
                attempt += 1;
                shell.status(
                    "Retrying",
                    format!(
                        "`{}` changed while it was written; reindexing again",
                        path.display()
                    ),
                );
            }
            other => return other,
        }
    }
}

/// How often a reindex that lost a race (in a bucket) starts again.
const RETRIES: usize = 5;

/// One run of [`reindex`] under the lock `writer` holds.
fn reindex_once(writer: &Writer, opts: &ReindexOptions, shell: &Shell) -> Result<ReindexReport> {
    let mut run = Run {
        reg: writer,
        opts,
        shell,
        report: ReindexReport {
            pruned: opts.prune,
            dry_run: opts.dry_run,
            ..Default::default()
        },
        writes: Vec::new(),
        problems: Vec::new(),
        indexed: HashSet::new(),
        kept: Vec::new(),
        moved_index: false,
    };
    let (mut groups, known_crates) = read_index_files(writer)?;
    run.read_crates(&mut groups, &known_crates)?;
    for key in writer.unreadable_keys() {
        shell.warn(format!(
            "`{key}` cannot be read back (an empty, `.` or `..` component, or a name that is not UTF-8): left out; rename or delete it with another tool"
        ));
    }
    run.indexed = known_crates;
    let released = unused_claims(writer, &groups)?;
    for group in groups.into_values() {
        run.plan_group(group)?;
    }
    if !run.problems.is_empty() {
        return Ok(run.refuse());
    }
    for name in &released {
        let verb = if opts.dry_run {
            "Would release"
        } else {
            "Released"
        };
        shell.status(
            verb,
            format!("the name claim of `{name}` (no index file and no .crate left)"),
        );
    }
    if opts.dry_run {
        let mut report = run.dry_run_report();
        report.claims_released = released;
        return Ok(report);
    }
    let Run {
        writes,
        mut report,
        kept,
        moved_index,
        ..
    } = run;
    for name in &released {
        writer.release_claim(name)?;
    }
    report.claims_released = released;
    apply(
        writer,
        writes,
        (!moved_index).then_some(kept),
        shell,
        &mut report,
    )?;
    shell.status(
        "Reindexed",
        format!(
            "{}; {} written, {} added",
            count(report.crates_read, ".crate file"),
            count(report.index_files_written.len(), "index file"),
            count(report.lines_added.len(), "line")
        ),
    );
    Ok(report)
}

/// The name claims (a registry in a bucket) of crates with no index file and
/// no `.crate` left: canonical names, sorted.
fn unused_claims(reg: &Registry, groups: &BTreeMap<String, Group>) -> Result<Vec<String>> {
    Ok(reg
        .name_claims()?
        .into_iter()
        .filter(|c| {
            groups
                .get(c)
                .is_none_or(|g| g.old.is_empty() && g.found.is_empty())
        })
        .collect())
}

/// Every index file, grouped by crate (canonical name), and the key of the
/// `.crate` every line names.
fn read_index_files(reg: &Registry) -> Result<(BTreeMap<String, Group>, HashSet<String>)> {
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
    Ok((groups, known_crates))
}

/// Makes the writes: `.crate` files first (they must be where the dl
/// template points before a line names them), then the index files in
/// parallel, then what is derived from the index (the catalogue), handed
/// `kept` (the index files not written, when every written one is at the
/// key it was read at) with the written ones, so that it reads none again.
fn apply(
    writer: &Writer,
    writes: Vec<Write>,
    kept: Option<IndexSnapshot>,
    shell: &Shell,
    report: &mut ReindexReport,
) -> Result<()> {
    let cleaned = writer.clean_temp(std::time::Duration::from_secs(24 * 3600), true)?;
    if cleaned > 0 {
        shell.status(
            "Cleaned",
            format!(
                "{} left by an interrupted regtool",
                count(cleaned, "temporary file")
            ),
        );
    }
    let mut index_writes = Vec::new();
    for w in writes {
        match &w {
            Write::Move { from, to } => writer.move_crate(from, to)?,
            Write::Delete(key) => writer.delete_crate(key)?,
            Write::Fix(key) => writer.fix_crate(key)?,
            Write::Index { .. } => {}
        }
        tell_crate_write(writer, &w, false, shell, report);
        if let Write::Index {
            name,
            file,
            revision,
        } = w
        {
            index_writes.push((name, file, revision));
        }
    }
    if !index_writes.is_empty() {
        // Before the first index write: a run killed after it leaves the
        // catalogue pending, for the next change to finish.
        writer.before_rebuild_writes();
    }
    index_writes
        .par_iter()
        .try_for_each(|(name, file, revision)| {
            let pre = Precondition::from_read(revision.clone());
            match writer.write_index(name, file, &pre, Durability::Now)? {
                Outcome::Done => Ok(()),
                Outcome::Conflict => Err(Error::Conflict {
                    path: writer.locate(&layout::index_key(name)),
                }),
            }
        })?;
    let mut index = kept;
    for (name, file, _) in index_writes {
        let key = layout::index_key(&name);
        if file.lines.is_empty() {
            report.index_files_removed.push(key);
        } else {
            report.index_files_written.push(key.clone());
            if let Some(index) = &mut index {
                index.push((key, file));
            }
        }
    }
    if let Some(index) = &mut index {
        index.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // What is derived from the index (the catalogue), as the index is now.
    writer.rebuild_derived(index)?;
    Ok(())
}

/// Names a `.crate` moved or removed on the shell (and a move in the
/// report): done, or with `would`, what a real run would do.
fn tell_crate_write(
    reg: &Registry,
    w: &Write,
    would: bool,
    shell: &Shell,
    report: &mut ReindexReport,
) {
    match w {
        Write::Move { from, to } => {
            let (from, to) = (reg.locate(from), reg.locate(to));
            let verb = if would { "Would move" } else { "Moved" };
            shell.status(verb, format!("`{}` to `{}`", from.display(), to.display()));
            report.moved.push(to);
        }
        Write::Delete(key) => {
            let verb = if would { "Would remove" } else { "Removed" };
            shell.status(verb, format!("`{}` (a copy)", reg.locate(key).display()));
        }
        Write::Fix(_) | Write::Index { .. } => {}
    }
}

impl Run<'_> {
    /// Reads every `.crate` under `crates/` (in parallel) into its crate's
    /// group; one that cannot be read is a problem.
    fn read_crates(
        &mut self,
        groups: &mut BTreeMap<String, Group>,
        known_crates: &HashSet<String>,
    ) -> Result<()> {
        let reg = self.reg;
        let keys = reg.crate_keys()?;
        self.report.crates_read = keys.len();
        // New input (a `.crate` no line names yet) is judged by today's limits;
        // stored crates were accepted already.
        let input_limits = reader::input_limits(&reg.settings, None, None);
        let bar = self.shell.bar(keys.len() as u64, "Reindexing");
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
                    self.problem(&key, format!("{what}: {why}"));
                }
            }
        }
        Ok(())
    }

    fn problem(&mut self, key: &str, message: String) {
        self.problems.push((self.reg.locate(key), message));
    }

    /// The report of a run stopped by problems (nothing written).
    fn refuse(self) -> ReindexReport {
        let mut report = self.report;
        for (path, error) in self.problems {
            self.shell.error(format!("`{}`: {error}", path.display()));
            report.rejected.push(Rejected { path, error });
        }
        self.shell.status(
            "Refused",
            format!(
                "{}; nothing was written (see `regtool reindex --help`)",
                count(report.rejected.len(), "problem")
            ),
        );
        report
    }

    /// `--dry-run`: the report of what the writes would do, each named on
    /// the shell.
    fn dry_run_report(self) -> ReindexReport {
        let Run {
            reg,
            shell,
            mut report,
            writes,
            ..
        } = self;
        for w in writes {
            tell_crate_write(reg, &w, true, shell, &mut report);
            match w {
                Write::Move { .. } | Write::Delete(_) | Write::Fix(_) => {}
                Write::Index { name, file, .. } => {
                    let key = layout::index_key(&name);
                    let verb = if file.lines.is_empty() {
                        report.index_files_removed.push(key.clone());
                        "Would remove"
                    } else {
                        report.index_files_written.push(key.clone());
                        "Would write"
                    };
                    shell.status(verb, format!("`{}`", reg.locate(&key).display()));
                }
            }
        }
        shell.status(
            "Dry run",
            format!(
                "{}; {} would be written, {} added; nothing was written",
                count(report.crates_read, ".crate file"),
                count(report.index_files_written.len(), "index file"),
                count(report.lines_added.len(), "line")
            ),
        );
        report
    }

    /// Works out one crate's new index file, the moves it needs, and its
    /// problems.
    fn plan_group(&mut self, group: Group) -> Result<()> {
        let Group { mut old, found } = group;
        let found = self.leave_out_other_spellings(&old, found)?;
        if !self.one_spelling(&old, &found) {
            return Ok(());
        }
        let old = old.pop();
        let Some(name) = self.published_name(old.as_ref(), &found) else {
            // An empty index file without .crate files: nothing to keep.
            if let Some(o) = old {
                if o.file.lines.is_empty()
                    && let Ok(n) = CrateName::new(layout::index_key_name(&o.key).unwrap_or(""))
                {
                    self.writes.push(Write::Index {
                        name: n,
                        file: IndexFile::default(),
                        revision: Some(o.revision),
                    });
                } else {
                    self.kept.push((o.key, o.file));
                }
            }
            return Ok(());
        };
        let problems = self.problems.len();
        let (mut by_version, found_at) = self.place_files(&name, found)?;
        if self.problems.len() > problems {
            // A file not where it belongs: nothing of the crate is planned
            // (its lines would be taken for lines without a `.crate`).
            return Ok(());
        }
        let (old_key, old_file, revision) = match old {
            Some(o) => (Some(o.key), o.file, Some(o.revision)),
            None => (None, IndexFile::default(), None),
        };
        let mut lines = self.keep_lines(&name, &old_file, &mut by_version);
        for (version, f) in by_version {
            lines.push(self.new_line(f, &found_at[&version]));
        }
        let new = IndexFile { lines };
        if new.to_bytes() != old_file.to_bytes() || (revision.is_none() && !new.lines.is_empty()) {
            if old_key.is_some_and(|k| k != layout::index_key(&name)) {
                self.moved_index = true;
            }
            self.writes.push(Write::Index {
                name,
                file: new,
                revision,
            });
        } else if let Some(key) = old_key {
            self.kept.push((key, old_file));
        }
        Ok(())
    }

    /// `found` without the `.crate` files whose crate name is not the
    /// spelling that decides (the one index file's, else in a bucket the
    /// name claim's): each is reported (a warning and
    /// [`ReindexReport::left_out`]) and left where it is, unless an index
    /// line names its key. Without one index file or a claim nothing
    /// decides, and `found` is returned whole.
    fn leave_out_other_spellings(
        &mut self,
        old: &[OldIndex],
        found: Vec<Found>,
    ) -> Result<Vec<Found>> {
        let decided = match old {
            [o] => o
                .file
                .lines
                .first()
                .and_then(|l| CrateName::new(&l.package.name).ok()),
            [] => match found.first() {
                Some(f) => self.reg.claimed_spelling(&f.entry.name)?,
                None => None,
            },
            _ => None,
        };
        let Some(decided) = decided else {
            return Ok(found);
        };
        // A file at the key of an indexed version is that version's, whatever
        // it holds: judged with the crate (a problem), never left out.
        let (keep, other): (Vec<Found>, Vec<Found>) = found
            .into_iter()
            .partition(|f| f.entry.name == decided || self.indexed.contains(&f.key));
        for f in other {
            let path = self.reg.locate(&f.key);
            self.shell.warn(format!(
                "`{}`: a .crate of `{}`, a spelling the registry does not have for crate `{decided}` (a leftover of a killed `add`, or a copy by hand): left out of the index; delete it",
                path.display(),
                f.entry.name
            ));
            self.report.left_out.push(path);
        }
        Ok(keep)
    }

    /// One crate, one spelling: in its index files and in its `.crate` files.
    /// Records the problem and returns false otherwise.
    fn one_spelling(&mut self, old: &[OldIndex], found: &[Found]) -> bool {
        let spellings: BTreeSet<&str> = old
            .iter()
            .filter_map(|o| o.file.lines.first().map(|l| l.package.name.as_str()))
            .chain(found.iter().map(|f| f.entry.line.name.as_str()))
            .collect();
        if old.len() <= 1 && spellings.len() <= 1 {
            return true;
        }
        let list: Vec<String> = spellings.iter().map(|s| format!("`{s}`")).collect();
        let key = old
            .first()
            .map(|o| &o.key)
            .or_else(|| found.first().map(|f| &f.key));
        let path = key.map(|k| self.reg.locate(k)).unwrap_or_default();
        self.problems.push((
            path,
            format!(
                "the registry holds one crate under several names ({}; {} index files): names equal up to case and `-`/`_` are the same crate for cargo; keep one",
                list.join(", "),
                old.len()
            ),
        ));
        false
    }

    /// The published name: the index file's, else the crates'. `None` when
    /// there is neither, or the index file's is not a valid name (a problem).
    fn published_name(&mut self, old: Option<&OldIndex>, found: &[Found]) -> Option<CrateName> {
        match old.and_then(|o| o.file.lines.first().map(|l| (o, l))) {
            Some((o, l)) => match CrateName::new(&l.package.name) {
                Ok(n) => Some(n),
                Err(reason) => {
                    let message = format!("invalid crate name `{}`: {reason}", l.package.name);
                    self.problem(&o.key, message);
                    None
                }
            },
            None => found.first().map(|f| f.entry.name.clone()),
        }
    }

    /// One file per version, where the dl template points: the first found
    /// is kept (moved there if it is elsewhere), copies with the same bytes
    /// are removed, other bytes for the version are a problem. Returns the
    /// kept files by version, and where each was found (before a move).
    #[allow(clippy::type_complexity)]
    fn place_files(
        &mut self,
        name: &CrateName,
        mut found: Vec<Found>,
    ) -> Result<(BTreeMap<VersionKey, Found>, BTreeMap<VersionKey, String>)> {
        let reg = self.reg;
        found.sort_by(|a, b| {
            (
                &a.entry.version,
                a.key != layout::crate_key(name, &a.entry.line.vers),
            )
                .cmp(&(
                    &b.entry.version,
                    b.key != layout::crate_key(name, &b.entry.line.vers),
                ))
        });
        let mut by_version: BTreeMap<VersionKey, Found> = BTreeMap::new();
        let mut found_at: BTreeMap<VersionKey, String> = BTreeMap::new();
        for f in found {
            let want = layout::crate_key(name, &f.entry.line.vers);
            let version = version_key(&f.entry.version);
            if f.key != want && self.indexed.contains(&f.key) {
                let message = format!(
                    "holds {} v{}, but an index line names this file as the .crate of another version: no version is taken from it; put the right file back (`regtool add` of the original), or remove that version's line first (`regtool remove`)",
                    f.entry.line.name, f.entry.line.vers
                );
                self.problem(&f.key, message);
                continue;
            }
            match by_version.get(&version) {
                None => {
                    if f.key != want {
                        if reg.stat(&want)?.is_some() {
                            // `want` holds other bytes that were unreadable: reported there.
                            continue;
                        }
                        self.writes.push(Write::Move {
                            from: f.key.clone(),
                            to: want.clone(),
                        });
                    } else if reg.cheap_listing() || !self.indexed.contains(&f.key) {
                        // In a bucket, only a `.crate` no line names yet
                        // can have been put there by other means.
                        self.writes.push(Write::Fix(f.key.clone()));
                    }
                    found_at.insert(version.clone(), f.key.clone());
                    by_version.insert(version, Found { key: want, ..f });
                }
                Some(first)
                    if first.entry.line.cksum == f.entry.line.cksum
                        && first.entry.line.vers == f.entry.line.vers =>
                {
                    // The same file seen through a linked folder is not a copy:
                    // deleting it would delete the one that is kept.
                    if !reg.same_object(&f.key, &found_at[&version])? {
                        self.writes.push(Write::Delete(f.key));
                    }
                }
                Some(first) => {
                    let message = format!(
                        "holds {} v{} but `{}` holds other bytes for that version (versions that differ only in build metadata collide too); remove one of them",
                        f.entry.line.name,
                        f.entry.line.vers,
                        reg.locate(&first.key).display()
                    );
                    self.problem(&f.key, message);
                }
            }
        }
        Ok((by_version, found_at))
    }

    /// The lines of `old_file` in their order: each derived anew from its
    /// `.crate` (taken out of `by_version`), keeping its `yanked`, `pubtime`
    /// and unknown fields; a line whose `.crate` is missing is kept (dropped
    /// with `prune`); a `.crate` whose bytes changed is a problem (taken
    /// with `accept_changed`).
    fn keep_lines(
        &mut self,
        name: &CrateName,
        old_file: &IndexFile,
        by_version: &mut BTreeMap<VersionKey, Found>,
    ) -> Vec<IndexLine> {
        let mut lines = Vec::new();
        for l in &old_file.lines {
            let key = l.package.version().ok().map(|v| version_key(&v));
            let id = format!("{}@{}", l.package.name, l.package.vers);
            match key.and_then(|k| by_version.remove(&k)) {
                Some(f) => {
                    if let Some(line) = self.rederived_line(l, f, &id) {
                        lines.push(line);
                    }
                }
                None => {
                    if self.opts.prune {
                        let verb = if self.opts.dry_run {
                            "Would prune"
                        } else {
                            "Pruned"
                        };
                        self.shell.status(verb, &id);
                    } else {
                        self.shell.warn(format!(
                            "`{}`: {id} has no .crate file (kept; `--prune` drops it)",
                            self.reg.locate(&layout::index_key(name)).display()
                        ));
                        lines.push(l.clone());
                    }
                    self.report.missing_crates.push(id);
                }
            }
        }
        lines
    }

    /// The line `l` (of version `id`) derived anew from its `.crate` `f`,
    /// keeping its `yanked`, `pubtime` and unknown fields; `None` (and a
    /// problem) when the file is not that version's or its bytes changed.
    fn rederived_line(&mut self, l: &IndexLine, f: Found, id: &str) -> Option<IndexLine> {
        let mut entry = f.entry.line;
        if entry.vers != l.package.vers {
            // `1.1.0+b` for a line `1.1.0+a`: one version to cargo, but
            // another version string; not a change --accept-changed takes.
            let message = format!(
                "{id}: the .crate holds v{} (versions that differ only in build metadata collide): it is not the file of {id}; restore the original (`regtool add` of it) or remove the line first (`regtool remove {id}`)",
                entry.vers
            );
            self.problem(&f.key, message);
            return None;
        }
        if self.reg.settings.mirror && entry.cksum == l.package.cksum {
            // Upstream's line, verbatim: its `.crate` is the one it names.
            return Some(l.clone());
        }
        if entry.cksum != l.package.cksum {
            if !self.opts.accept_changed {
                let message = format!(
                    "{id}: the .crate's SHA-256 is {} but its line says {}: the file was damaged or replaced after it was added; restore it (`regtool add` of the original file), or take the new bytes with `--accept-changed` (every Cargo.lock that pins {id} then breaks)",
                    entry.cksum, l.package.cksum
                );
                self.problem(&f.key, message);
                return None;
            }
            self.shell.warn(format!(
                "{id}: cksum changed from {} to {} (--accept-changed)",
                l.package.cksum, entry.cksum
            ));
            self.report.changed_cksums.push(id.to_string());
        }
        entry.yanked = l.package.yanked;
        entry.pubtime = l.package.pubtime.clone();
        entry.unknown = l.package.unknown.clone();
        Some(IndexLine {
            raw: entry.to_line(),
            package: entry,
        })
    }

    /// A line for a `.crate` no line named, with the mtime of the file where
    /// it was found (`found_at`, before a move) as its `pubtime`.
    fn new_line(&mut self, f: Found, found_at: &str) -> IndexLine {
        let mut entry = f.entry.line;
        let mtime = self
            .reg
            .stat(found_at)
            .ok()
            .flatten()
            .and_then(|m| m.modified)
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .unwrap_or_else(jiff::Timestamp::now);
        entry.pubtime = Some(crate::index::format_pubtime(mtime));
        self.report
            .lines_added
            .push(format!("{}@{}", entry.name, entry.vers));
        let verb = if self.opts.dry_run {
            "Would index"
        } else {
            "Indexed"
        };
        self.shell
            .status(verb, format!("{} v{}", entry.name, entry.vers));
        IndexLine {
            raw: entry.to_line(),
            package: entry,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests change the folder by hand, as a user would
mod tests {
    use super::*;
    use crate::ops::testing::Counted;

    const FILES: [&str; 3] = [
        "itoa-1.0.18.crate",
        "memchr-2.8.3.crate",
        "log-0.4.35.crate",
    ];

    fn run(reg: &Registry) -> ReindexReport {
        reindex(reg, &ReindexOptions::default(), &Shell::silent()).unwrap()
    }

    /// Issue 20: a reindex that changes nothing reads each index file once
    /// (the catalogue is handed the files reindex read) and writes nothing,
    /// catalogue on or off.
    #[test]
    fn a_reindex_that_changes_nothing_reads_each_index_file_once_and_writes_nothing() {
        for html in [true, false] {
            let c = Counted::new(html, &FILES);
            let reg = c.open();
            let _ = c.store.take();
            let report = run(&reg);
            assert!(report.index_files_written.is_empty());
            let counts = c.store.take();
            let keys = reg.index_keys().unwrap();
            assert_eq!(keys.len(), 3);
            for key in &keys {
                assert_eq!(
                    counts.reads.get(key),
                    Some(&1),
                    "reads of {key}: {counts:?}"
                );
            }
            assert!(
                counts.writes.is_empty(),
                "html {html}: wrote {:?}",
                counts.writes
            );
        }
    }

    /// A reindex that changes something still renders what changed, from
    /// the files it holds: the page of a crate whose `.crate` was put in by
    /// hand, and the page of one whose line was yanked by hand; the page of
    /// a crate that did not change is not written; `verify` then finds the
    /// catalogue describing the index.
    #[test]
    #[cfg(feature = "html")]
    fn a_reindex_that_changes_the_index_renders_what_changed() {
        use crate::ops::testing::fixture;
        let c = Counted::new(true, &FILES);
        let root = c.dir.path();
        let autocfg = CrateName::new("autocfg").unwrap();
        let dest = root.join(layout::crate_key(&autocfg, "1.5.1"));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(fixture("autocfg-1.5.1.crate"), &dest).unwrap();
        let itoa = layout::index_key(&CrateName::new("itoa").unwrap());
        let text = std::fs::read_to_string(root.join(&itoa)).unwrap();
        assert!(text.contains("\"yanked\":false"));
        std::fs::write(
            root.join(&itoa),
            text.replace("\"yanked\":false", "\"yanked\":true"),
        )
        .unwrap();
        let reg = c.open();
        let _ = c.store.take();
        let report = run(&reg);
        assert_eq!(report.index_files_written, [layout::index_key(&autocfg)]);
        let counts = c.store.take();
        for key in reg.index_keys().unwrap() {
            assert!(
                counts.reads.get(&key).is_none_or(|n| *n <= 1),
                "{key}: {counts:?}"
            );
        }
        let written = |k: &str| counts.writes.contains_key(k);
        assert!(written("catalogue/crates/autocfg.html"), "{counts:?}");
        assert!(written("catalogue/crates/itoa.html"), "{counts:?}");
        assert!(!written("catalogue/crates/memchr.html"), "{counts:?}");
        let page = std::fs::read_to_string(root.join("catalogue/crates/itoa.html")).unwrap();
        assert!(page.contains("class=\"yanked\""));
        let search = std::fs::read_to_string(root.join("catalogue/search-index.js")).unwrap();
        assert!(search.contains("[\"autocfg\""), "{search}");
        let location = crate::location::RegistryLocation::Local(root.to_path_buf());
        let opts = crate::ops::verify::VerifyOptions { deep: false };
        let checked = crate::ops::verify::verify(&location, &opts, &Shell::silent()).unwrap();
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    }
}
