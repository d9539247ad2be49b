//! `regtool verify`: check a registry and report every problem found.
//! Floor 5 (`commands`).
//!
//! Checks: `config.json`; every index file parses (each line also as cargo's own
//! `IndexPackage`), ends in a newline, sits at the path of its name and holds one
//! crate; no version twice (build metadata ignored); every line has its `.crate`,
//! whose SHA-256 matches `cksum`; every `.crate` has a line. `deep` also
//! re-derives each line from its `.crate` and reports the fields that differ.
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html>.

use crate::config::WRITER_VERSION;
use crate::error::{Error, Result};
use crate::index::{IndexFile, IndexPackage, version_key};
use crate::layout::{self, CONFIG_KEY, SETTINGS_KEY};
use crate::location::RegistryLocation;
use crate::name::{self, CrateName};
use crate::output::Shell;
use crate::registry::Registry;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Options of `verify`.
#[derive(Debug, Clone, Default)]
pub(crate) struct VerifyOptions {
    /// Re-derive every line from its `.crate` and compare.
    pub(crate) deep: bool,
}

/// One problem found (an item of the `--format json` report).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    /// The file the problem is about.
    pub(crate) path: PathBuf,
    /// A stable keyword: `config`, `index-unreadable`, `index-line`, `truncated`,
    /// `wrong-path`, `mixed-names`, `name-conflict`, `duplicate-version`,
    /// `missing-crate`, `cksum-mismatch`, `orphan-crate`, `crate-unreadable`,
    /// `differs`, `writer-version` (the registry needs a newer regtool to be
    /// changed), `unreadable-key` (a key a listing returned that cannot be
    /// read back: left out of every check), `catalogue` (the catalogue does
    /// not describe the index, work on it was left pending, or a file of it
    /// cannot be read: `regtool reindex` writes it again).
    pub(crate) kind: &'static str,
    /// What is wrong, for people.
    pub(crate) message: String,
}

/// The report of `verify` (its `--format json` schema).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct VerifyReport {
    /// Index files read.
    pub(crate) index_files: usize,
    /// Index lines read.
    pub(crate) versions: usize,
    /// `.crate` files found under `crates/`.
    pub(crate) crate_files: usize,
    /// Whether `--deep` was used.
    pub(crate) deep: bool,
    /// Every problem, sorted by path.
    pub(crate) problems: Vec<Problem>,
    /// Things that are not wrong but look like a mistake, sorted by path
    /// (they do not change the exit code): `misdirected-dependency`, a
    /// dependency naming another registry whose URL looks like this one's
    /// (see `regtool::ops::foreign`).
    pub(crate) warnings: Vec<Problem>,
}

struct Job {
    line_path: PathBuf,
    crate_key: String,
    line: IndexPackage,
}

/// Checks the registry at `location` (a folder or `s3://bucket/prefix`; see
/// the module docs), holding the registry lock shared so that it sees the
/// registry between two changes. Object storage has no lock: `verify` then
/// sees each object as it is when read.
///
/// # Errors
/// [`Error::NotARegistry`] if there is no registry; [`Error::Io`] if a folder
/// cannot be listed; [`Error::Config`] when the S3 client cannot be set up.
/// Problems in the registry are not errors: they are in the report.
pub(crate) fn verify(
    location: &RegistryLocation,
    opts: &VerifyOptions,
    shell: &Shell,
) -> Result<VerifyReport> {
    let (reg, config_error) = location.open_lenient()?;
    verify_registry(&reg, config_error, opts, shell)
}

/// [`verify`] of the registry `reg`, opened with `config_error` (a broken
/// `config.json`, reported as a problem).
///
/// # Errors
/// As [`verify`].
fn verify_registry(
    reg: &Registry,
    config_error: Option<Error>,
    opts: &VerifyOptions,
    shell: &Shell,
) -> Result<VerifyReport> {
    let mut problems = Vec::new();
    if let Some(e) = config_error {
        problems.push(Problem {
            path: reg.locate(CONFIG_KEY),
            kind: "config",
            message: e.to_string(),
        });
    }
    // See the registry between two changes, not in the middle of one.
    let _lock = reg.shared_lock(shell)?;
    let mut report = VerifyReport {
        deep: opts.deep,
        ..Default::default()
    };
    let mut lines = Lines::default();
    // Each index file is read once (on every core), for these checks and
    // the catalogue's.
    let index: Vec<(String, Result<Option<Vec<u8>>>)> = reg
        .index_keys()?
        .into_par_iter()
        .map(|key| {
            let read = reg.read_raw(&key);
            (key, read)
        })
        .collect();
    for (key, read) in &index {
        report.index_files += 1;
        check_index_file(reg, key, read, &mut lines, &mut report, &mut problems);
    }
    problems.extend(misplaced_index_files(reg)?);
    problems.extend(spelling_conflicts(reg, &lines.spellings));
    problems.extend(claim_conflicts(reg, &lines.spellings)?);
    report.warnings = misdirected(reg, &lines.jobs)?;
    problems.extend(check_crates(reg, &lines.jobs, opts.deep, shell));
    problems.extend(check_crate_files(reg, &lines, &mut report)?);
    problems.extend(check_catalogue(reg, index)?);
    problems.extend(writer_version(reg));
    problems.extend(reg.unreadable_keys().into_iter().map(|k| Problem {
        path: PathBuf::from(&k),
        kind: "unreadable-key",
        message: "a listing returned this key, but it cannot be read back (an empty, `.` or `..` component, or a name that is not UTF-8): every check left it out; rename or delete it with another tool".into(),
    }));
    problems.sort();
    report.problems = problems;
    Ok(report)
}

/// Whether the catalogue describes the index (see
/// [`crate::catalogue::check`]), given every index file as read for the
/// other checks (`index`: key, bytes); index files that cannot be read are
/// problems of their own already, and their crates' pages are not judged.
fn check_catalogue(
    reg: &Registry,
    index: Vec<(String, Result<Option<Vec<u8>>>)>,
) -> Result<Vec<Problem>> {
    if !reg.settings.html {
        return Ok(Vec::new());
    }
    let read: Vec<std::result::Result<Option<(CrateName, IndexFile)>, String>> = index
        .into_par_iter()
        .map(|(key, read)| {
            let parsed = read.and_then(|bytes| {
                bytes
                    .map(|b| IndexFile::parse(&reg.locate(&key), &b))
                    .transpose()
            });
            match parsed {
                Ok(found) => Ok(found.and_then(|index| {
                    let name = CrateName::new(&index.lines.first()?.package.name).ok()?;
                    Some((name, index))
                })),
                Err(_) => Err(name::canonical(key.rsplit('/').next().unwrap_or(&key))),
            }
        })
        .collect();
    let mut files = Vec::new();
    let mut unreadable = std::collections::HashSet::new();
    for r in read {
        match r {
            Ok(Some(file)) => files.push(file),
            Ok(None) => {}
            Err(canonical) => {
                unreadable.insert(canonical);
            }
        }
    }
    let found = match crate::catalogue::check(reg, &files, &unreadable) {
        Ok(found) => found,
        // The catalogue is derived: a file of it that cannot be read is one
        // problem, never an error that hides the index's own.
        Err(e @ (Error::Io { .. } | Error::Bucket { .. })) => {
            return Ok(vec![unreadable_catalogue(reg, &e)]);
        }
        Err(e) => return Err(e),
    };
    Ok(found
        .into_iter()
        .map(|f| Problem {
            path: reg.locate(&f.key),
            kind: "catalogue",
            message: format!(
                "{}; `regtool reindex` writes the catalogue again",
                f.message
            ),
        })
        .collect())
}

/// The problem of a catalogue file that cannot be read (`e`, naming it):
/// the catalogue was not judged, the index was.
fn unreadable_catalogue(reg: &Registry, e: &Error) -> Problem {
    let why = crate::http::chain(e);
    Problem {
        path: e
            .path()
            .map_or_else(|| reg.locate(crate::catalogue::DIR), Path::to_path_buf),
        kind: "catalogue",
        message: format!(
            "a file of the catalogue cannot be read, so the catalogue was not checked (the index was): {why}; move it out of the way, then `regtool reindex` writes the catalogue again"
        ),
    }
}

/// The registry needs a newer regtool to be changed than this one.
fn writer_version(reg: &Registry) -> Option<Problem> {
    let needs = reg.settings.min_writer_version;
    (needs > WRITER_VERSION).then(|| Problem {
        path: reg.locate(SETTINGS_KEY),
        kind: "writer-version",
        message: format!(
            "the registry needs regtool writer version {needs} to be changed, and this regtool writes version {WRITER_VERSION}: every command that writes refuses it, and this check may not know everything it holds; install a newer regtool"
        ),
    })
}

/// A crate in a bucket whose claimed spelling (`.regtool/names/`) is not
/// the one of its index file.
fn claim_conflicts(
    reg: &Registry,
    spellings: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    for names in spellings.values().filter(|n| n.len() == 1) {
        let Ok(name) = CrateName::new(&names[0]) else {
            continue;
        };
        if let Some(claimed) = reg.claimed_spelling(&name)?
            && claimed != name
        {
            out.push(Problem {
                path: reg.locate(&layout::index_key(&name)),
                kind: "name-conflict",
                message: format!(
                    "crate `{name}` has its name claimed as `{claimed}` (`{}`): a writer adding `{claimed}` would be refused, one adding `{name}` too; remove the index file or the claim",
                    reg.locate(&layout::name_claim_key(&name)).display()
                ),
            });
        }
    }
    Ok(out)
}

/// What the index files say, for the checks that span files.
#[derive(Default)]
struct Lines {
    /// Every line, with the `.crate` it names.
    jobs: Vec<Job>,
    /// The key of every `.crate` a line names.
    expected_crates: BTreeSet<String>,
    /// Index files' crate names per canonical name: two spellings of one
    /// crate are a problem.
    spellings: BTreeMap<String, Vec<String>>,
}

/// Checks the index file at `key`: readable, ends in a newline, every line
/// an index line (regtool's and cargo's), of one crate, at its path, each
/// version once. Its lines go to `lines`.
fn check_index_file(
    reg: &Registry,
    key: &str,
    read: &Result<Option<Vec<u8>>>,
    lines: &mut Lines,
    report: &mut VerifyReport,
    problems: &mut Vec<Problem>,
) {
    let path = reg.locate(key);
    let mut problem = |kind, message: String| {
        problems.push(Problem {
            path: path.clone(),
            kind,
            message,
        })
    };
    let Some(text) = read_index_text(read, &mut problem) else {
        return;
    };
    let mut first_name: Option<String> = None;
    let mut seen: BTreeMap<(u64, u64, u64, String), String> = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        report.versions += 1;
        let Some((line, crate_name, version)) = parse_line(raw, i + 1, &mut problem) else {
            continue;
        };
        let n = i + 1;
        match &first_name {
            None => {
                lines
                    .spellings
                    .entry(crate_name.canonical())
                    .or_default()
                    .push(line.name.clone());
                if layout::index_key(&crate_name) != key {
                    problem(
                        "wrong-path",
                        format!(
                            "holds crate `{}`, whose index file is `{}`",
                            line.name,
                            layout::index_key(&crate_name)
                        ),
                    );
                }
                first_name = Some(line.name.clone());
            }
            Some(f) if *f != line.name => problem(
                "mixed-names",
                format!(
                    "line {n} is for crate `{}` but the file is for `{f}`",
                    line.name
                ),
            ),
            Some(_) => {}
        }
        if let Some(prev) = seen.insert(version_key(&version), line.vers.clone()) {
            problem(
                "duplicate-version",
                format!(
                    "line {n}: {} v{} duplicates v{prev} (build metadata is ignored)",
                    line.name, line.vers
                ),
            );
        }
        let crate_key = layout::crate_key(&crate_name, &line.vers);
        lines.expected_crates.insert(crate_key.clone());
        lines.jobs.push(Job {
            line_path: path.clone(),
            crate_key,
            line,
        });
    }
}

/// The text of an index file as `read`: `None` (and a problem) when it
/// could not be read, is empty or is not UTF-8; a problem too when its last
/// line has no newline.
fn read_index_text<'a>(
    read: &'a Result<Option<Vec<u8>>>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<&'a str> {
    let bytes = match read {
        Ok(Some(b)) => b,
        Ok(None) => return None, // removed meanwhile (no lock on a read-only registry)
        Err(e) => {
            problem("index-unreadable", format!("cannot read: {}", cause(e)));
            return None;
        }
    };
    if bytes.is_empty() {
        problem("truncated", "the index file is empty".into());
        return None;
    }
    if !bytes.ends_with(b"\n") {
        problem(
            "truncated",
            "the last line does not end in a newline (a truncated write?)".into(),
        );
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(_) => {
            problem("index-unreadable", "not UTF-8".into());
            None
        }
    }
}

/// Line `n` (`raw`) as an index line with its checked name and version;
/// `None` (and a problem) when it is not one. Also a problem when cargo's own
/// `IndexPackage` cannot read it.
fn parse_line(
    raw: &str,
    n: usize,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<(IndexPackage, CrateName, semver::Version)> {
    let line: IndexPackage = match serde_json::from_str(raw) {
        Ok(l) => l,
        Err(e) => {
            problem(
                "index-line",
                format!("line {n} is not a valid index line: {e}"),
            );
            return None;
        }
    };
    if let Err(e) = serde_json::from_str::<cargo_util_schemas::index::IndexPackage<'_>>(raw) {
        problem(
            "index-line",
            format!("line {n} cannot be read by cargo: {e}"),
        );
    }
    let crate_name = match CrateName::new(&line.name) {
        Ok(c) => c,
        Err(reason) => {
            problem(
                "index-line",
                format!("line {n}: invalid crate name `{}`: {reason}", line.name),
            );
            return None;
        }
    };
    let Ok(version) = line.version() else {
        problem(
            "index-line",
            format!("line {n}: invalid version `{}`", line.vers),
        );
        return None;
    };
    Some((line, crate_name, version))
}

/// Files laid out like index files but not at the path of the name they
/// hold: cargo never asks for them.
fn misplaced_index_files(reg: &Registry) -> Result<Vec<Problem>> {
    Ok(reg
        .misplaced_index_keys()?
        .into_iter()
        .map(|key| {
            let file = key.rsplit('/').next().unwrap_or_default();
            Problem {
                path: reg.locate(&key),
                kind: "wrong-path",
                message: format!(
                    "looks like the index file of crate `{file}`, whose index file is `{}`; cargo never asks for it",
                    layout::index_path(file)
                ),
            }
        })
        .collect())
}

/// Two index files for one crate (names equal up to case and `-`/`_`).
fn spelling_conflicts(reg: &Registry, spellings: &BTreeMap<String, Vec<String>>) -> Vec<Problem> {
    let mut out = Vec::new();
    for names in spellings.values().filter(|n| n.len() > 1) {
        for n in names {
            out.push(Problem {
                path: reg.locate(&layout::index_path(n)),
                kind: "name-conflict",
                message: format!(
                    "crate `{n}` is the same crate as {} for cargo (names equal up to case and `-`/`_`); remove one of them",
                    quoted_others(names, n)
                ),
            });
        }
    }
    out
}

/// Checks the `.crate` of every line (in parallel): there, and its SHA-256
/// (with `deep`, the whole line derived again).
fn check_crates(reg: &Registry, jobs: &[Job], deep: bool, shell: &Shell) -> Vec<Problem> {
    let bar = shell.bar(jobs.len() as u64, "Verifying");
    let found: Vec<Vec<Problem>> = jobs
        .par_iter()
        .map(|job| {
            let r = check_crate(reg, job, deep);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    found.into_iter().flatten().collect()
}

/// The `.crate` files under `crates/`: one folder per crate (not two
/// spellings), and a line for each (`lines.expected_crates`). A folder whose
/// spelling the crate's index file (or, in a bucket, its name claim) does
/// not have holds orphans, not a second spelling: a killed `add` leaves
/// such files, and only the index decides a crate's spelling.
fn check_crate_files(
    reg: &Registry,
    lines: &Lines,
    report: &mut VerifyReport,
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let files = reg.crate_keys()?;
    report.crate_files = files.len();
    // `crates/foo` beside `crates/Foo`: two folders for one crate.
    let mut folders: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for key in &files {
        if let Some(folder) = key.split('/').nth(1) {
            folders
                .entry(name::canonical(folder))
                .or_default()
                .insert(folder);
        }
    }
    let mut decided: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (canonical, set) in &folders {
        let spelling = decided_spelling(reg, &lines.spellings, canonical, set)?;
        decided.insert(canonical.clone(), spelling);
    }
    for (canonical, set) in folders.iter().filter(|(_, s)| s.len() > 1) {
        if decided[canonical].is_some() {
            continue; // the other folders hold orphans, reported below
        }
        let names: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        for n in &names {
            problems.push(Problem {
                path: reg.locate(&format!("{}/{n}", layout::CRATES_DIR)),
                kind: "name-conflict",
                message: format!(
                    "the folder of crate `{n}` sits beside {} (the same crate for cargo); keep one",
                    quoted_others(&names, n)
                ),
            });
        }
    }
    for key in files.iter().filter(|k| !lines.expected_crates.contains(*k)) {
        let folder = key.split('/').nth(1).unwrap_or_default();
        let message = match decided.get(&name::canonical(folder)) {
            Some(Some(d)) if d != folder => format!(
                "no index line points at this .crate, and its spelling `{folder}` is not the crate's (`{d}`): a leftover of a killed `add` or a copy by hand, which `regtool reindex` leaves out; delete it"
            ),
            _ => "no index line points at this .crate (`regtool reindex` indexes it)".into(),
        };
        problems.push(Problem {
            path: reg.locate(key),
            kind: "orphan-crate",
            message,
        });
    }
    Ok(problems)
}

/// The spelling that decides what crate `canonical` is called: its one
/// index file's, else (in a bucket) its name claim's. `None` when nothing
/// decides: no index file and no claim, or index files of several spellings.
/// `folders` are the spellings of its `crates/` folders (a claim is only
/// read when one of them is a valid crate name).
fn decided_spelling(
    reg: &Registry,
    spellings: &BTreeMap<String, Vec<String>>,
    canonical: &str,
    folders: &BTreeSet<&str>,
) -> Result<Option<String>> {
    if let Some(names) = spellings.get(canonical) {
        return Ok((names.len() == 1).then(|| names[0].clone()));
    }
    let Some(name) = folders.iter().find_map(|f| CrateName::new(f).ok()) else {
        return Ok(None);
    };
    Ok(reg.claimed_spelling(&name)?.map(|c| c.to_string()))
}

/// `misdirected-dependency` warnings for the lines of `jobs`, judged against
/// the versions those lines hold.
fn misdirected(reg: &Registry, jobs: &[Job]) -> Result<Vec<Problem>> {
    if reg.settings.mirror {
        return Ok(Vec::new()); // crates.io crates depend on crates.io only
    }
    let mut versions: BTreeMap<String, Vec<semver::Version>> = BTreeMap::new();
    for j in jobs.iter().filter(|j| !j.line.yanked) {
        if let Ok(v) = j.line.version() {
            versions
                .entry(name::canonical(&j.line.name))
                .or_default()
                .push(v);
        }
    }
    let mut out = Vec::new();
    for j in jobs {
        let found = super::foreign::misdirected(&reg.settings, &j.line.deps, |n| {
            Ok(versions
                .get(&name::canonical(n))
                .cloned()
                .unwrap_or_default())
        })?;
        for m in found {
            out.push(Problem {
                path: j.line_path.clone(),
                kind: "misdirected-dependency",
                message: m.message(&format!("{} v{}", j.line.name, j.line.vers), &reg.settings),
            });
        }
    }
    out.sort();
    Ok(out)
}

fn quoted_others(names: &[String], me: &str) -> String {
    names
        .iter()
        .filter(|o| *o != me)
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error's message without the path the problem already names.
fn cause(e: &Error) -> String {
    match e {
        Error::Crate { problem, .. } => problem.to_string(),
        Error::Io { action, source, .. } => format!("failed to {action}: {source}"),
        other => other.to_string(),
    }
}

fn check_crate(reg: &Registry, job: &Job, deep: bool) -> Vec<Problem> {
    let id = format!("{} v{}", job.line.name, job.line.vers);
    let crate_path = reg.locate(&job.crate_key);
    let problem = |path: &Path, kind, message: String| Problem {
        path: path.to_path_buf(),
        kind,
        message,
    };
    if !matches!(reg.stat(&job.crate_key), Ok(Some(_))) {
        return vec![problem(
            &job.line_path,
            "missing-crate",
            format!("{id} has no .crate file at `{}`", crate_path.display()),
        )];
    }
    if deep {
        // Read with the limits the crate was accepted under (none re-applied).
        return match reg.read_stored_crate(&job.crate_key, None) {
            Err(e) => vec![problem(&crate_path, "crate-unreadable", cause(&e))],
            Ok(derived) => {
                let derived = derived.line;
                let mut out = Vec::new();
                if derived.cksum != job.line.cksum {
                    out.push(cksum_problem(job, &crate_path, &derived.cksum));
                }
                let fields = differing_fields(&job.line, &derived);
                if !fields.is_empty() {
                    out.push(problem(
                        &job.line_path,
                        "differs",
                        format!(
                            "{id}: fields differ from what its .crate gives: {}",
                            fields.join(", ")
                        ),
                    ));
                }
                out
            }
        };
    }
    match reg.sha256(&job.crate_key) {
        Err(e) => vec![problem(&crate_path, "crate-unreadable", cause(&e))],
        Ok(Some(sum)) if sum != job.line.cksum => vec![cksum_problem(job, &crate_path, &sum)],
        Ok(_) => Vec::new(),
    }
}

fn cksum_problem(job: &Job, path: &Path, actual: &str) -> Problem {
    Problem {
        path: path.to_path_buf(),
        kind: "cksum-mismatch",
        message: format!(
            "SHA-256 is {actual} but the index line of {} v{} says {}",
            job.line.name, job.line.vers, job.line.cksum
        ),
    }
}

fn differing_fields(line: &IndexPackage, derived: &IndexPackage) -> Vec<&'static str> {
    let mut out = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if line.$f != derived.$f { out.push(stringify!($f)); }
        )*};
    }
    cmp!(
        name,
        vers,
        deps,
        features,
        features2,
        links,
        rust_version,
        v
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::Counted;

    /// Issue 20: `verify` reads each index file once, for its own checks
    /// and the catalogue's, catalogue on or off, and writes nothing.
    #[test]
    fn verify_reads_each_index_file_once() {
        for html in [true, false] {
            let c = Counted::new(html, &["itoa-1.0.18.crate", "log-0.4.35.crate"]);
            let reg = c.open();
            let _ = c.store.take();
            let opts = VerifyOptions { deep: false };
            let report = verify_registry(&reg, None, &opts, &Shell::silent()).unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!(report.index_files, 2);
            let counts = c.store.take();
            for key in reg.index_keys().unwrap() {
                assert_eq!(counts.reads.get(&key), Some(&1), "{key}: {counts:?}");
            }
            assert!(counts.writes.is_empty(), "{counts:?}");
        }
    }
}
