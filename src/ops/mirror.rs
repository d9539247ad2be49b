//! `regtool mirror`: copy the exact crates.io versions a project needs (from its
//! `Cargo.lock` files, or `NAME@VERSION`) into a `--mirror` registry, with
//! upstream's index lines written byte for byte; `--refresh` takes upstream's
//! yanked flags for every mirrored version.
//! Floor 5 (`commands`).
//!
//! Nothing from outside is trusted. Lockfile packages are parsed into types
//! ([`lockfile::LockedPackage::parse`]) and upstream's index files are read
//! line by line as they arrive, keeping only the lines asked for, each parsed
//! and checked ([`upstream::scan_index`], [`upstream::check_package`]) before
//! a name, version or checksum names a path, a key or a URL. For each version:
//! upstream's line gives its `cksum`; the `.crate` is downloaded from
//! `config.json`'s `dl` template and its SHA-256 checked against the line's
//! `cksum` and the lockfile's `checksum` while it arrives; then it passes the
//! archive checks `add` makes, through the same reader ([`reader::read_entry`]:
//! gzip, one member, one tar stream, one top folder `{name}-{version}`, a
//! manifest cargo reads), and its manifest's name and version must be the
//! line's; then [`Writer::publish_verbatim`] stores it and upstream's line,
//! byte for byte (`.crate` durable first). A crate is published as soon as its
//! downloads and the crates of the run it depends on have landed (see
//! [`Landing`]), so a killed run keeps what it finished. A `.crate` over the
//! registry's `max-crate-size` is refused before more than that is read.
//! Versions already mirrored are skipped without a request; a mirrored version
//! whose `.crate` is missing is restored from its own line (the line, with its
//! yank state, is the mirror's; only the bytes are fetched again). A version
//! that fails any of this is refused by name and the others go on (exit 1).
//! Sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html>,
//! <https://doc.rust-lang.org/cargo/reference/source-replacement.html>.

use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use crate::index::{Cksum, IndexFile, IndexLine, IndexPackage};
use crate::layout::{self, SETTINGS_KEY};
use crate::lockfile;
use crate::name::CrateName;
use crate::output::Shell;
use crate::reader;
use crate::registry::{self, Registry, VerbatimOutcome, VerbatimVersion, Writer};
use crate::upstream::{self, FetchError, RetryPolicy, Upstream, UpstreamIndex};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

/// Options of `mirror`.
#[derive(Debug, Clone)]
pub(crate) struct MirrorOptions {
    /// What to mirror: lockfiles and single versions.
    pub(crate) inputs: Vec<MirrorInput>,
    /// The upstream sparse index (`sparse+https://index.crates.io/`).
    pub(crate) upstream: String,
    /// Sent as `Authorization` to upstream (`REGTOOL_UPSTREAM_TOKEN`).
    pub(crate) token: Option<String>,
    /// Most downloads at once.
    pub(crate) jobs: usize,
    /// Retries, backoff, timeouts, low-speed limit and deadline.
    pub(crate) retry: RetryPolicy,
    /// Find out what would be done; download and write nothing.
    pub(crate) dry_run: bool,
    /// Take upstream's current line (its yanked flag) for every mirrored version.
    pub(crate) refresh: bool,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            inputs: Vec::new(),
            upstream: upstream::CRATES_IO_SPARSE.into(),
            token: None,
            jobs: 8,
            retry: RetryPolicy::default(),
            dry_run: false,
            refresh: false,
        }
    }
}

/// What to mirror.
#[derive(Debug, Clone)]
pub(crate) enum MirrorInput {
    /// A `Cargo.lock` (or a folder holding one): its packages from upstream.
    Lockfile(PathBuf),
    /// One version.
    Version(CrateName, semver::Version),
}

/// What happened to one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum VersionStatus {
    /// Downloaded and published.
    Mirrored,
    /// `--dry-run`: would be mirrored (or refreshed).
    Planned,
    /// Already in the mirror; nothing fetched.
    Skipped,
    /// Its line was there but its `.crate` was missing: downloaded again.
    Restored,
    /// Refused (see `reason`); nothing of it was written.
    Refused,
    /// `--refresh`: the line was replaced by upstream's (yanked changed).
    Refreshed,
    /// `--refresh`: the line already equals upstream's (or upstream has none).
    Unchanged,
}

/// One version in the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MirroredVersion {
    /// Crate name.
    pub(crate) name: String,
    /// Version.
    pub(crate) vers: String,
    /// What happened.
    pub(crate) status: VersionStatus,
    /// SHA-256 of the `.crate`, when known.
    pub(crate) cksum: Option<String>,
    /// Whether upstream's line says yanked, when known.
    pub(crate) yanked: Option<bool>,
    /// Bytes downloaded for it (0 when nothing was downloaded).
    pub(crate) downloaded: u64,
    /// Why it was refused, or a note.
    pub(crate) reason: Option<String>,
    /// Where it was asked for: the lockfile, `command line` or `refresh`.
    pub(crate) from: String,
}

/// A lockfile package that is not taken from upstream (path, git or another
/// registry).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IgnoredPackage {
    /// Name.
    pub(crate) name: String,
    /// Version.
    pub(crate) vers: String,
    /// Its `source` (`None` for path and workspace packages).
    pub(crate) source: Option<String>,
    /// The lockfile.
    pub(crate) from: PathBuf,
}

/// The report of `mirror` (its `--format json` schema, see `docs/json.md`).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct MirrorReport {
    /// The upstream index URL.
    pub(crate) upstream: String,
    /// Whether this was a `--dry-run`.
    pub(crate) dry_run: bool,
    /// Every version asked for (and with `--refresh`, every mirrored one).
    pub(crate) versions: Vec<MirroredVersion>,
    /// Lockfile packages not taken from upstream.
    pub(crate) ignored: Vec<IgnoredPackage>,
    /// Keys of the objects written (`.crate` files and index files), in order.
    pub(crate) written: Vec<String>,
    /// Bytes of `.crate` files downloaded.
    pub(crate) downloaded_bytes: u64,
    /// HTTP requests sent to upstream (retries included).
    pub(crate) requests: u64,
}

impl MirrorReport {
    /// How many versions were refused.
    pub(crate) fn refused(&self) -> usize {
        self.versions
            .iter()
            .filter(|v| v.status == VersionStatus::Refused)
            .count()
    }

    fn count(&self, status: VersionStatus) -> usize {
        self.versions.iter().filter(|v| v.status == status).count()
    }

    /// One line for people: how many were mirrored, skipped, refused.
    pub(crate) fn summary(&self) -> String {
        let count =
            |n: u64, noun| crate::output::count(usize::try_from(n).unwrap_or(usize::MAX), noun);
        let mut parts = Vec::new();
        for (s, word) in [
            (VersionStatus::Mirrored, "mirrored"),
            (VersionStatus::Restored, "restored"),
            (VersionStatus::Planned, "planned (dry run)"),
            (VersionStatus::Skipped, "already there"),
            (VersionStatus::Refreshed, "refreshed"),
            (VersionStatus::Unchanged, "unchanged"),
            (VersionStatus::Refused, "refused"),
        ] {
            let n = self.count(s);
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        if parts.is_empty() {
            parts.push("nothing to do".into());
        }
        format!(
            "{} ({} downloaded, {} to {})",
            parts.join(", "),
            count(self.downloaded_bytes, "byte"),
            count(self.requests, "request"),
            self.upstream
        )
    }
}

/// A version asked for, parsed into types.
#[derive(Debug, Clone)]
struct Want {
    name: CrateName,
    version: semver::Version,
    checksum: Option<Cksum>,
    from: String,
}

/// A version to fetch from upstream, its line found and checked.
struct Job {
    /// The crate, as the line spells it.
    name: CrateName,
    /// The line's `vers`.
    version: semver::Version,
    /// The line's `cksum`.
    cksum: Cksum,
    /// The line: upstream's, or for a restore the mirror's own.
    line: IndexLine,
    /// Upstream's versions of the crate in its order (those this run knows).
    order: Arc<Vec<String>>,
    /// The line is in the mirror; only its `.crate` is fetched again.
    restore: bool,
    from: String,
    /// Already stored with the right bytes (a killed run's orphan).
    adopted: bool,
}

/// What a run fetches `.crate` files with.
struct Fetcher<'a> {
    upstream: &'a Upstream,
    config: &'a RegistryConfig,
}

/// Mirrors `opts.inputs` (and with `opts.refresh` refreshes every mirrored version)
/// from `opts.upstream` into `reg`, which must be a `--mirror` registry.
///
/// A version refused (upstream lacks it or its line breaks a rule, checksums
/// disagree, the archive fails `add`'s checks or holds another version, the
/// mirror holds other bytes for it, the download fails after its retries, its
/// publication fails) is named in the report and nothing of it is written; the
/// others still land, and the report's outcome is then exit code 1.
///
/// # Errors
/// [`Error::Config`] if `reg` is not a mirror registry or a lockfile cannot be
/// parsed (or names a package that is not a crate name and semver version);
/// [`Error::Usage`] for a bad upstream URL; [`Error::Io`] naming the
/// lockfile, the registry file, or upstream's `config.json` URL when it cannot
/// be fetched.
pub(crate) fn mirror(reg: &Registry, opts: &MirrorOptions, shell: &Shell) -> Result<MirrorReport> {
    if !reg.settings.mirror {
        return Err(Error::Config {
            path: reg.locate(SETTINGS_KEY),
            message: "`regtool mirror` needs a registry made with `regtool init --mirror`: crates.io's index lines name their crates.io dependencies as same-registry ones, which is right only in a registry that replaces crates.io".into(),
        });
    }
    let upstream = Upstream::new(&opts.upstream, opts.token.clone(), opts.retry)?;
    let mut report = MirrorReport {
        upstream: opts.upstream.clone(),
        dry_run: opts.dry_run,
        ..MirrorReport::default()
    };
    let wants = collect(&opts.inputs, &opts.upstream, &mut report)?;
    for i in &report.ignored {
        shell.status(
            "Ignoring",
            format!(
                "{} v{} ({}; not from the upstream)",
                i.name,
                i.vers,
                i.source.as_deref().unwrap_or("a path or workspace package")
            ),
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .thread_name(|i| format!("regtool-mirror-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {} download threads: {e}", opts.jobs)))?;

    let writer = reg.writer(shell)?;
    // Refused here, dry run or not, when the change could not be carried
    // through (the catalogue in a build without it).
    writer.can_change()?;
    writer.clean_temp(std::time::Duration::from_secs(24 * 3600), false)?;
    if opts.refresh {
        refresh(&writer, &upstream, &pool, opts.dry_run, shell, &mut report)?;
    }
    let There {
        need,
        restores,
        local,
    } = already_there(&writer, wants, shell, &mut report)?;
    let fetched = fetch_indexes(&upstream, &pool, &need, &local, shell);
    let mut jobs = find_lines(&writer, need, &fetched, shell, &mut report)?;
    drop(fetched);
    jobs.extend(restores);
    if opts.dry_run {
        planned(jobs, &mut report);
    } else {
        download_and_land(&writer, &upstream, jobs, opts.jobs, shell, &mut report)?;
    }
    report.requests = upstream.requests();
    Ok(report)
}

/// What [`already_there`] leaves to do.
struct There {
    /// Versions the mirror lacks.
    need: Vec<Want>,
    /// Versions whose line the mirror holds without their `.crate`.
    restores: Vec<Job>,
    /// The versions the mirror holds of each crate of `need` (by canonical
    /// name), whose place in upstream's order is kept too.
    local: HashMap<String, Vec<semver::Version>>,
}

/// The versions asked for that the mirror does not hold yet, and those whose
/// line it holds without the `.crate` (restored from that line); those it
/// holds go to the report as skipped, without a request. A version whose line
/// disagrees with the lockfile's checksum is refused.
fn already_there(
    reg: &Registry,
    wants: Vec<Want>,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<There> {
    let mut stored_lines: HashMap<String, Option<(CrateName, IndexFile)>> = HashMap::new();
    let mut there = There {
        need: Vec::new(),
        restores: Vec::new(),
        local: HashMap::new(),
    };
    for w in wants {
        let canonical = w.name.canonical();
        if !stored_lines.contains_key(&canonical) {
            let found = reg.find_crate(&w.name)?.map(|s| (s.name, s.index));
            stored_lines.insert(canonical.clone(), found);
        }
        let Some((stored_name, index)) = &stored_lines[&canonical] else {
            there.need.push(w);
            continue;
        };
        let Some(line) = index
            .lines
            .iter()
            .find(|l| l.package.version().is_ok_and(|v| v == w.version))
        else {
            there.local.entry(canonical).or_insert_with(|| {
                index
                    .lines
                    .iter()
                    .filter_map(|l| l.package.version().ok())
                    .collect()
            });
            there.need.push(w);
            continue;
        };
        let pkg = &line.package;
        if let Some(c) = &w.checksum
            && c.as_str() != pkg.cksum
        {
            let msg = format!(
                "the mirror holds {} v{} with cksum {}, but {} says {c}",
                pkg.name, pkg.vers, pkg.cksum, w.from
            );
            refuse(shell, report, &w, Some(pkg.cksum.clone()), msg);
            continue;
        }
        // The mirror's own line names the key: checked as upstream's would be.
        let (name, version, cksum) = match upstream::check_package(pkg, stored_name) {
            Ok(checked) => checked,
            Err(why) => {
                let msg = format!("the mirror's line cannot be restored: {why}");
                refuse(shell, report, &w, Some(pkg.cksum.clone()), msg);
                continue;
            }
        };
        if reg.stat(&layout::crate_key(&name, &pkg.vers))?.is_none() {
            there.restores.push(Job {
                name,
                version,
                cksum,
                line: line.clone(),
                order: Arc::new(Vec::new()),
                restore: true,
                from: w.from,
                adopted: false,
            });
            continue;
        }
        report.versions.push(MirroredVersion {
            name: pkg.name.clone(),
            vers: pkg.vers.clone(),
            status: VersionStatus::Skipped,
            cksum: Some(pkg.cksum.clone()),
            yanked: Some(pkg.yanked),
            downloaded: 0,
            reason: None,
            from: w.from,
        });
    }
    Ok(there)
}

/// What came of fetching one crate's index file: its kept lines, `None` when
/// upstream has no such crate, or why it could not be read.
type Fetched = std::result::Result<Option<UpstreamIndex>, String>;

/// Upstream's index file of each crate `need` names, one request per crate
/// (`jobs` at once), by canonical name; of each, only the lines of the
/// versions asked for and of those the mirror holds (`local`) are kept.
fn fetch_indexes(
    upstream: &Upstream,
    pool: &rayon::ThreadPool,
    need: &[Want],
    local: &HashMap<String, Vec<semver::Version>>,
    shell: &Shell,
) -> HashMap<String, Fetched> {
    let mut names: BTreeMap<String, (CrateName, HashSet<semver::Version>)> = BTreeMap::new();
    for w in need {
        let canonical = w.name.canonical();
        let (_, keep) = names.entry(canonical.clone()).or_insert_with(|| {
            let held = local.get(&canonical).into_iter().flatten().cloned();
            (w.name.clone(), held.collect())
        });
        keep.insert(w.version.clone());
    }
    let names: Vec<(String, (CrateName, HashSet<semver::Version>))> = names.into_iter().collect();
    let bar = shell.bar(names.len() as u64, "Index");
    let fetched: Vec<(String, Fetched)> = pool.install(|| {
        names
            .par_iter()
            .map(|(canonical, (name, keep))| {
                let r = fetch_index(upstream, name, keep);
                bar.inc(1);
                (canonical.clone(), r)
            })
            .collect()
    });
    bar.finish_and_clear();
    fetched.into_iter().collect()
}

/// Upstream's line of each version `need` asks for (refused when upstream
/// lacks it, its line breaks a rule, or it disagrees with the lockfile's
/// checksum): the jobs to download. A `.crate` the mirror already holds with
/// the line's bytes (a killed run's orphan) is adopted, not downloaded, once
/// it passes the archive checks.
fn find_lines(
    reg: &Registry,
    need: Vec<Want>,
    fetched: &HashMap<String, Fetched>,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut orders: HashMap<String, Arc<Vec<String>>> = HashMap::new();
    for w in need {
        let canonical = w.name.canonical();
        let index = match &fetched[&canonical] {
            Err(e) => {
                refuse(shell, report, &w, None, e.clone());
                continue;
            }
            Ok(None) => {
                let msg = format!("upstream has no crate `{}`", w.name);
                refuse(shell, report, &w, None, msg);
                continue;
            }
            Ok(Some(index)) => index,
        };
        let found = match index.get(&w.version) {
            None => {
                refuse(shell, report, &w, None, index.missing(&w.name, &w.version));
                continue;
            }
            Some(Err(why)) => {
                refuse(shell, report, &w, None, why.clone());
                continue;
            }
            Some(Ok(found)) => found,
        };
        if let Some(c) = &w.checksum
            && *c != found.cksum
        {
            let msg = format!(
                "checksum mismatch: upstream's line for {} v{} has cksum {}, {} says {c}",
                found.name, found.version, found.cksum, w.from
            );
            refuse(shell, report, &w, Some(found.cksum.to_string()), msg);
            continue;
        }
        let order = orders
            .entry(canonical)
            .or_insert_with(|| Arc::new(index.versions().map(|v| v.to_string()).collect()))
            .clone();
        let mut job = Job {
            name: found.name.clone(),
            version: found.version.clone(),
            cksum: found.cksum.clone(),
            line: found.line.clone(),
            order,
            restore: false,
            from: w.from,
            adopted: false,
        };
        let key = layout::crate_key(&job.name, &job.line.package.vers);
        if reg.stat(&key)?.is_some() && reg.sha256(&key)?.as_deref() == Some(job.cksum.as_str()) {
            let limits = reader::input_limits(&reg.settings, None, None);
            let checked = match reg.read_stored_crate(&key, Some(&limits)) {
                Ok(entry) => holds_the_line(&job, &entry),
                Err(e) => Err(format!("the .crate is refused: {e}")),
            };
            if let Err(why) = checked {
                refuse(shell, report, &job.want(), Some(job.cksum.to_string()), why);
                continue;
            }
            job.adopted = true;
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// Whether the `.crate` read as `entry` holds the job's crate and version
/// (its manifest's, checked against its top folder by the reader).
fn holds_the_line(job: &Job, entry: &reader::Entry) -> std::result::Result<(), String> {
    if entry.name.as_str() != job.name.as_str() || entry.line.vers != job.line.package.vers {
        return Err(format!(
            "the .crate holds {} v{}, but upstream's line is {} v{}",
            entry.name, entry.line.vers, job.name, job.line.package.vers
        ));
    }
    Ok(())
}

/// `--dry-run`: every job goes to the report as planned.
fn planned(jobs: Vec<Job>, report: &mut MirrorReport) {
    for j in jobs {
        let p = j.line.package;
        report.versions.push(MirroredVersion {
            name: p.name,
            vers: p.vers,
            status: VersionStatus::Planned,
            cksum: Some(p.cksum),
            yanked: Some(p.yanked),
            downloaded: 0,
            reason: None,
            from: j.from,
        });
    }
}

/// Downloads the jobs' `.crate` files, `threads` at once, each crate
/// published as soon as its downloads and the crates of the run it depends
/// on have landed (see [`Landing`]).
fn download_and_land(
    writer: &Writer,
    upstream: &Upstream,
    jobs: Vec<Job>,
    threads: usize,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<()> {
    let to_download = jobs.iter().filter(|j| !j.adopted).count();
    let config = if to_download > 0 {
        Some(upstream.config()?)
    } else {
        None
    };
    let mut landing = Landing::new(&jobs);
    let order = landing.download_order(&jobs);
    let bar = shell.bar(to_download as u64, "Downloading");
    let next = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Downloads)>();
    let landed = std::thread::scope(|scope| -> Result<()> {
        if let Some(config) = &config {
            for i in 0..threads.max(1).min(order.len()) {
                let tx = tx.clone();
                let (order, next, cancel, jobs, bar) = (&order, &next, &cancel, &jobs, &bar);
                std::thread::Builder::new()
                    .name(format!("regtool-mirror-{i}"))
                    .spawn_scoped(scope, move || {
                        let fetch = Fetcher { upstream, config };
                        while !cancel.load(Ordering::Relaxed) {
                            let Some(&j) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                                break;
                            };
                            let r = download(writer, &fetch, &jobs[j]);
                            bar.inc(1);
                            if tx.send((j, r)).is_err() {
                                break;
                            }
                        }
                    })
                    .map_err(|e| {
                        cancel.store(true, Ordering::Relaxed);
                        Error::Usage(format!("cannot start a download thread: {e}"))
                    })?;
            }
        }
        drop(tx);
        let fetch = config.as_ref().map(|config| Fetcher { upstream, config });
        let r = land_as_they_come(
            writer,
            fetch.as_ref(),
            &mut landing,
            &jobs,
            &rx,
            shell,
            report,
        );
        if r.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        r
    });
    bar.finish_and_clear();
    report.downloaded_bytes = upstream.downloaded_bytes();
    landed
}

/// Publishes what may land as downloads arrive on `rx` (adopted orphans at
/// once), until every download has come.
fn land_as_they_come(
    writer: &Writer,
    fetch: Option<&Fetcher<'_>>,
    landing: &mut Landing,
    jobs: &[Job],
    rx: &mpsc::Receiver<(usize, Downloads)>,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<()> {
    // Adopted orphans need no download: they may land at once.
    landing.land_ready(writer, fetch, jobs, shell, report)?;
    while let Ok(first) = rx.recv() {
        // Whatever else has arrived meanwhile joins the same batch.
        for (j, result) in std::iter::once(first).chain(rx.try_iter()) {
            match result {
                Ok(file) => landing.downloaded(j, Some(file)),
                Err(msg) => {
                    refuse(shell, report, &jobs[j].want(), Some(jobs[j].cksum()), msg);
                    landing.failed(j);
                }
            }
        }
        landing.land_ready(writer, fetch, jobs, shell, report)?;
    }
    debug_assert!(landing.all_settled(), "every crate is published or refused");
    Ok(())
}

/// One download's result: the staging file and its size, or why it failed.
type Downloads = std::result::Result<(tempfile::NamedTempFile, u64), String>;

impl Job {
    fn want(&self) -> Want {
        Want {
            name: self.name.clone(),
            version: self.version.clone(),
            checksum: None,
            from: self.from.clone(),
        }
    }

    fn cksum(&self) -> String {
        self.cksum.to_string()
    }
}

/// One crate of a run on its way into the mirror.
struct CrateLanding {
    /// Its jobs (indices into the run's jobs).
    jobs: Vec<usize>,
    /// Its jobs not yet downloaded (or failed).
    pending: usize,
    /// Its dependency level among the run's crates (see [`crate::registry::levels`]).
    level: usize,
    /// The run's crates of a lower level it depends on: it is published only
    /// once each of them is settled.
    waits_for: Vec<String>,
    /// Its jobs ready to publish, with their file (`None`: adopted).
    ready: Vec<(usize, Option<(tempfile::NamedTempFile, u64)>)>,
    /// Published (or every version refused).
    settled: bool,
}

/// Which crates of a run may be published now.
///
/// A crate's index file is written once, when all its versions of the run are
/// downloaded and every crate of the run it depends on (normal and build
/// dependencies, by lower level) has been published or refused, so that the
/// mirror never serves a line whose dependencies' lines are still on their way
/// when the run completes them: a run killed at any point leaves a mirror
/// whose every line is resolvable from lines already there (as far as the run
/// got), and its `.crate` files durable before the lines that name them
/// ([`Writer::publish_verbatim`]). A dependency cycle (not possible on
/// crates.io for normal dependencies) is cut at its highest level, as in
/// `add`.
struct Landing {
    crates: BTreeMap<String, CrateLanding>,
    /// Each job's crate (canonical name).
    job_crate: Vec<String>,
}

impl Landing {
    fn new(jobs: &[Job]) -> Landing {
        let mut crates: BTreeMap<String, CrateLanding> = BTreeMap::new();
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, j) in jobs.iter().enumerate() {
            let c = crates
                .entry(j.name.canonical())
                .or_insert_with(|| CrateLanding {
                    jobs: Vec::new(),
                    pending: 0,
                    level: 0,
                    waits_for: Vec::new(),
                    ready: Vec::new(),
                    settled: false,
                });
            c.jobs.push(i);
            if j.adopted {
                c.ready.push((i, None));
            } else {
                c.pending += 1;
            }
            deps.entry(j.name.canonical())
                .or_default()
                .extend(crate::registry::dependency_names(&j.line.package));
        }
        for (name, ds) in &mut deps {
            ds.retain(|d| d != name && crates.contains_key(d));
        }
        let levels = crate::registry::levels(&deps);
        for (name, c) in &mut crates {
            c.level = levels.get(name).copied().unwrap_or(0);
            c.waits_for = deps[name]
                .iter()
                .filter(|d| levels.get(*d).copied().unwrap_or(0) < c.level)
                .cloned()
                .collect();
        }
        let job_crate = jobs.iter().map(|j| j.name.canonical()).collect();
        Landing { crates, job_crate }
    }

    /// The jobs to download, dependencies first (lowest level first), so that
    /// dependents can follow them in early.
    fn download_order(&self, jobs: &[Job]) -> Vec<usize> {
        let mut order: Vec<(usize, usize)> = self
            .crates
            .values()
            .flat_map(|c| c.jobs.iter().map(|&j| (c.level, j)))
            .filter(|&(_, j)| !jobs[j].adopted)
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, j)| j).collect()
    }

    /// Job `j` is downloaded (`None`: adopted).
    fn downloaded(&mut self, j: usize, file: Option<(tempfile::NamedTempFile, u64)>) {
        let c = self.of_job(j);
        c.pending -= 1;
        c.ready.push((j, file));
    }

    /// Job `j` was refused.
    fn failed(&mut self, j: usize) {
        self.of_job(j).pending -= 1;
    }

    fn of_job(&mut self, j: usize) -> &mut CrateLanding {
        self.crates
            .get_mut(&self.job_crate[j])
            .expect("every job's crate is planned")
    }

    fn all_settled(&self) -> bool {
        self.crates.values().all(|c| c.settled)
    }

    /// Publishes every crate that may be now, in one batch. When the batch
    /// fails as a whole for a reason one crate can cause (another writer's
    /// object in the way, a name claimed otherwise), its crates are published
    /// one by one (fetching again what did not land), so that only the
    /// crate at fault is refused.
    fn land_ready(
        &mut self,
        writer: &Writer,
        fetch: Option<&Fetcher<'_>>,
        jobs: &[Job],
        shell: &Shell,
        report: &mut MirrorReport,
    ) -> Result<()> {
        let mut by_level: Vec<(usize, String)> = self
            .crates
            .iter()
            .filter(|(_, c)| !c.settled && c.pending == 0)
            .map(|(n, c)| (c.level, n.clone()))
            .collect();
        by_level.sort_unstable();
        // In level order, a crate's dependencies are decided before it.
        let mut chosen: Vec<String> = Vec::new();
        for (_, name) in by_level {
            let c = &self.crates[&name];
            if c.waits_for
                .iter()
                .all(|d| self.crates[d].settled || chosen.contains(d))
            {
                chosen.push(name);
            }
        }
        let mut batch = Vec::new();
        let mut by_crate: Vec<Vec<usize>> = Vec::new();
        for name in &chosen {
            let c = self.crates.get_mut(name).expect("chosen from the plan");
            c.settled = true;
            by_crate.push(c.ready.iter().map(|(j, _)| *j).collect());
            batch.append(&mut c.ready);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let failed = match publish_batch(writer, jobs, batch, shell, report) {
            Ok(()) => return Ok(()),
            Err(e) if !refusable(&e) => return Err(e),
            Err(e) => e,
        };
        if by_crate.len() == 1 {
            refuse_unpublished(shell, report, jobs, &by_crate[0], &failed);
            return Ok(());
        }
        shell.warn(format!(
            "{}; publishing the {} crates of its batch one by one",
            crate::error::Report(&failed),
            by_crate.len()
        ));
        for crate_jobs in by_crate {
            let mut one = Vec::new();
            for j in crate_jobs {
                match again(writer, fetch, &jobs[j]) {
                    Ok(file) => one.push((j, file)),
                    Err(why) => refuse(shell, report, &jobs[j].want(), Some(jobs[j].cksum()), why),
                }
            }
            let js: Vec<usize> = one.iter().map(|(j, _)| *j).collect();
            if js.is_empty() {
                continue;
            }
            match publish_batch(writer, jobs, one, shell, report) {
                Ok(()) => {}
                Err(e) if refusable(&e) => refuse_unpublished(shell, report, jobs, &js, &e),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether a failed publication may be one crate's fault, to be refused
/// while the run goes on: a conflict with an object in the way, a broken
/// rule, a missing file. The rest (I/O, a lost lock) ends the run.
fn refusable(e: &Error) -> bool {
    matches!(
        e,
        Error::Conflict { .. } | Error::Crate { .. } | Error::NotFound { .. }
    )
}

/// A job's file for publishing it again after its batch failed: none when
/// it is adopted or its `.crate` landed before the failure, else downloaded
/// (and checked) again.
fn again(
    writer: &Writer,
    fetch: Option<&Fetcher<'_>>,
    job: &Job,
) -> std::result::Result<Option<(tempfile::NamedTempFile, u64)>, String> {
    let key = layout::crate_key(&job.name, &job.line.package.vers);
    if job.adopted || writer.sha256(&key).ok().flatten().as_deref() == Some(job.cksum.as_str()) {
        return Ok(None);
    }
    let Some(fetch) = fetch else {
        return Err(
            "not published: its .crate is gone and upstream's config.json was not read".into(),
        );
    };
    download(writer, fetch, job).map(Some)
}

/// Publishes `batch` (each job with its staging file and size, or `None`
/// when its `.crate` is stored already) and puts each version's outcome in
/// the report.
///
/// # Errors
/// What [`Writer::publish_verbatim`] fails with as a whole (per-version
/// refusals go to the report).
fn publish_batch(
    writer: &Writer,
    jobs: &[Job],
    batch: Vec<(usize, Option<(tempfile::NamedTempFile, u64)>)>,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<()> {
    let mut versions = Vec::new();
    let mut info: HashMap<(String, String), (u64, usize)> = HashMap::new();
    for (j, file) in batch {
        let job = &jobs[j];
        let (file, size) = match file {
            Some((f, size)) => (Some(f), size),
            None => (None, 0),
        };
        info.insert(
            (job.name.canonical(), job.line.package.vers.clone()),
            (size, j),
        );
        versions.push(VerbatimVersion {
            name: job.name.clone(),
            line: job.line.clone(),
            upstream_order: job.order.clone(),
            file,
        });
    }
    let durability = registry::batch_durability(versions.len());
    let mut index_written = Vec::new();
    let results = writer.publish_verbatim(versions, durability, |name| {
        index_written.push(layout::index_key(name));
    })?;
    for r in results {
        let (size, j) = info[&(r.name.canonical(), r.vers.clone())];
        record(shell, report, &jobs[j], size, r.outcome);
    }
    report.written.extend(index_written);
    Ok(())
}

/// Refuses the versions `js` (indexes into `jobs`), which a publication
/// that failed with `failed` did not write.
fn refuse_unpublished(
    shell: &Shell,
    report: &mut MirrorReport,
    jobs: &[Job],
    js: &[usize],
    failed: &Error,
) {
    let why = format!("not published: {}", crate::error::Report(failed));
    for &j in js {
        refuse(
            shell,
            report,
            &jobs[j].want(),
            Some(jobs[j].cksum()),
            why.clone(),
        );
    }
}

/// Puts one version's publication in the report.
fn record(
    shell: &Shell,
    report: &mut MirrorReport,
    job: &Job,
    size: u64,
    outcome: Result<VerbatimOutcome>,
) {
    let pkg = &job.line.package;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let msg = crate::error::Report(&e).to_string();
            refuse(shell, report, &job.want(), Some(job.cksum()), msg);
            return;
        }
    };
    let status = match outcome {
        VerbatimOutcome::Published => VersionStatus::Mirrored,
        VerbatimOutcome::Present if job.restore => VersionStatus::Restored,
        VerbatimOutcome::Present => VersionStatus::Skipped,
    };
    if status != VersionStatus::Skipped && (size > 0 || status == VersionStatus::Mirrored) {
        report.written.push(layout::crate_key(&job.name, &pkg.vers));
    }
    shell.status(
        match status {
            VersionStatus::Restored => "Restored",
            VersionStatus::Skipped => "Skipped",
            _ => "Mirrored",
        },
        format!(
            "{} v{}{}",
            pkg.name,
            pkg.vers,
            if pkg.yanked { " (yanked upstream)" } else { "" }
        ),
    );
    report.versions.push(MirroredVersion {
        name: pkg.name.clone(),
        vers: pkg.vers.clone(),
        status,
        cksum: Some(pkg.cksum.clone()),
        yanked: Some(pkg.yanked),
        downloaded: size,
        reason: None,
        from: job.from.clone(),
    });
}

fn refuse(
    shell: &Shell,
    report: &mut MirrorReport,
    w: &Want,
    cksum: Option<String>,
    reason: String,
) {
    shell.error(format!("refused {} v{}: {reason}", w.name, w.version));
    report.versions.push(MirroredVersion {
        name: w.name.to_string(),
        vers: w.version.to_string(),
        status: VersionStatus::Refused,
        cksum,
        yanked: None,
        downloaded: 0,
        reason: Some(reason),
        from: w.from.clone(),
    });
}

/// The versions asked for, once each, parsed into types; lockfile packages
/// not from upstream go to `report.ignored`.
///
/// # Errors
/// [`Error::Config`] naming a lockfile that cannot be read as one, a package
/// from upstream whose name, version or checksum breaks its rule, or two
/// checksums for one version.
fn collect(
    inputs: &[MirrorInput],
    upstream_url: &str,
    report: &mut MirrorReport,
) -> Result<Vec<Want>> {
    let upstream_is = |source: &str| {
        lockfile::is_crates_io(source)
            || crate::config::normalize_url(source) == crate::config::normalize_url(upstream_url)
    };
    let mut out: Vec<Want> = Vec::new();
    let mut seen: HashMap<(String, semver::Version), usize> = HashMap::new();
    let mut push = |w: Want, out: &mut Vec<Want>| {
        let key = (w.name.canonical(), w.version.clone());
        match seen.get(&key) {
            Some(&i) => {
                if out[i].checksum.is_none() {
                    out[i].checksum = w.checksum;
                } else if w.checksum.is_some() && w.checksum != out[i].checksum {
                    let shown =
                        |c: &Option<Cksum>| c.as_ref().map(Cksum::to_string).unwrap_or_default();
                    return Err(Error::Config {
                        path: PathBuf::from(&w.from),
                        message: format!(
                            "{} v{} has checksum {} here but {} in {}",
                            w.name,
                            w.version,
                            shown(&w.checksum),
                            shown(&out[i].checksum),
                            out[i].from
                        ),
                    });
                }
            }
            None => {
                seen.insert(key, out.len());
                out.push(w);
            }
        }
        Ok(())
    };
    for input in inputs {
        match input {
            MirrorInput::Version(name, version) => push(
                Want {
                    name: name.clone(),
                    version: version.clone(),
                    checksum: None,
                    from: "command line".into(),
                },
                &mut out,
            )?,
            MirrorInput::Lockfile(path) => {
                let (file, packages) = lockfile::read(path)?;
                for p in packages {
                    if !p.source.as_deref().is_some_and(upstream_is) {
                        report.ignored.push(IgnoredPackage {
                            name: p.name,
                            vers: p.version,
                            source: p.source,
                            from: file.clone(),
                        });
                        continue;
                    }
                    let typed = p.parse(&file)?;
                    push(
                        Want {
                            name: typed.name,
                            version: typed.version,
                            checksum: typed.checksum,
                            from: file.display().to_string(),
                        },
                        &mut out,
                    )?;
                }
            }
        }
    }
    Ok(out)
}

/// Upstream's index file of `name`, keeping the lines of the versions in
/// `keep`: `Ok(None)` when it has no such crate; a message when it cannot be
/// fetched or read.
fn fetch_index(upstream: &Upstream, name: &CrateName, keep: &HashSet<semver::Version>) -> Fetched {
    upstream
        .index_file(name, &|v| keep.contains(v))
        .map_err(|e| format!("cannot fetch upstream's index file: {e}"))
}

/// Downloads a job's `.crate` into a staging file, checking its SHA-256
/// against the line's `cksum` and its size against the registry's
/// `max-crate-size`, then its archive as `add` does, with the same reader
/// ([`reader::read_entry`], under the registry's limits for new input), and
/// that it holds the line's crate and version.
fn download(reg: &Registry, fetch: &Fetcher<'_>, job: &Job) -> Downloads {
    let pkg = &job.line.package;
    let url = upstream::dl_url(
        &fetch.config.dl,
        job.name.as_str(),
        &pkg.vers,
        job.cksum.as_str(),
    );
    let limits = reader::input_limits(&reg.settings, None, None);
    let ceiling = gzip_ceiling(limits.max_unpacked_size);
    let mut tmp = reg.staging_file().map_err(|e| e.to_string())?;
    let got = fetch
        .upstream
        .download(
            &url,
            fetch.config.auth_required,
            limits.max_crate_size.min(ceiling),
            tmp.as_file_mut(),
        )
        .map_err(|e| match e {
            FetchError::TooLarge { .. } if ceiling < limits.max_crate_size => format!(
                "the .crate is over the registry's max-unpacked-size, compressed: {e} (no gzip of a tar stream of at most {} bytes is larger; `regtool settings --max-unpacked-size` raises it)",
                limits.max_unpacked_size
            ),
            FetchError::TooLarge { .. } => format!(
                "the .crate is over the registry's max-crate-size: {e} (`regtool settings --max-crate-size` raises it)"
            ),
            e => format!("cannot download the .crate: {e}"),
        })?;
    if got.sha256 != job.cksum.as_str() {
        return Err(format!(
            "checksum mismatch: `{url}` gave {} bytes with SHA-256 {}, upstream's line says {}",
            got.size, got.sha256, job.cksum
        ));
    }
    let source = tmp.reopen().map_err(|e| {
        format!(
            "cannot read the staging file `{}`: {e}",
            tmp.path().display()
        )
    })?;
    let entry = reader::read_entry(source, Path::new(&url), &limits, &reg.settings, None)
        .map_err(|e| format!("the .crate is refused: {e}"))?;
    holds_the_line(job, &entry)?;
    Ok((tmp, got.size))
}

/// A bound on the size of a `.crate` whose tar stream is at most
/// `max_unpacked` bytes, in bytes: deflate as cargo packages it (zlib, via
/// flate2) makes incompressible data larger by well under 0.1 % (zlib's
/// `deflateBound`), and gzip adds a header and trailer (64 KiB allowed here
/// for its optional fields). A download over it would fail the unpacked-size
/// check anyway; stopping there bounds a mirror without a `max-crate-size`
/// against an endless body.
fn gzip_ceiling(max_unpacked: u64) -> u64 {
    max_unpacked
        .saturating_add(max_unpacked / 1024)
        .saturating_add(64 * 1024)
}

/// Which fields of a line a `--refresh` may not change: those that decide
/// what cargo resolves and unpacks. A published version's dependencies,
/// features and `.crate` never change on crates.io; upstream may change its
/// `yanked` (what `--refresh` is for), and add `pubtime` or fields regtool
/// does not know.
fn frozen_fields_changed(ours: &IndexPackage, theirs: &IndexPackage) -> Vec<&'static str> {
    let mut changed = Vec::new();
    for (field, same) in [
        ("name", ours.name == theirs.name),
        ("vers", ours.vers == theirs.vers),
        ("cksum", ours.cksum == theirs.cksum),
        ("deps", ours.deps == theirs.deps),
        ("features", ours.features == theirs.features),
        ("features2", ours.features2 == theirs.features2),
        ("links", ours.links == theirs.links),
        ("rust_version", ours.rust_version == theirs.rust_version),
    ] {
        if !same {
            changed.push(field);
        }
    }
    changed
}

/// `--refresh` of one crate: compares each mirrored line of `local` with
/// upstream's (`up`, checked as a first mirror checks it), reports each, and
/// returns upstream's lines to take (by version): those that differ only in
/// fields a refresh may take ([`frozen_fields_changed`]). Any other
/// difference is refused and the mirror's line kept.
fn compare_lines(
    local: &IndexFile,
    up: &Fetched,
    dry_run: bool,
    shell: &Shell,
    report: &mut MirrorReport,
) -> HashMap<String, IndexLine> {
    let mut replace: HashMap<String, IndexLine> = HashMap::new();
    for l in &local.lines {
        let pkg = &l.package;
        let entry = |status, reason: Option<String>| MirroredVersion {
            name: pkg.name.clone(),
            vers: pkg.vers.clone(),
            status,
            cksum: Some(pkg.cksum.clone()),
            yanked: Some(pkg.yanked),
            downloaded: 0,
            reason,
            from: "refresh".into(),
        };
        let refused = |reason: String, report: &mut MirrorReport| {
            shell.error(format!("refused {} v{}: {reason}", pkg.name, pkg.vers));
            report
                .versions
                .push(entry(VersionStatus::Refused, Some(reason)));
        };
        let Ok(version) = pkg.version() else {
            refused(
                "the mirror's line has a `vers` that is not semver".into(),
                report,
            );
            continue;
        };
        let theirs = match up {
            Err(e) => {
                refused(e.clone(), report);
                continue;
            }
            Ok(None) => None,
            Ok(Some(index)) => index.get(&version),
        };
        let u = match theirs {
            None => {
                let note = format!("upstream has no {} v{}; kept as it is", pkg.name, pkg.vers);
                shell.warn(&note);
                report
                    .versions
                    .push(entry(VersionStatus::Unchanged, Some(note)));
                continue;
            }
            Some(Err(why)) => {
                refused(format!("{why}; kept the mirror's line"), report);
                continue;
            }
            Some(Ok(u)) => u,
        };
        if u.line.raw == l.raw {
            report.versions.push(entry(VersionStatus::Unchanged, None));
            continue;
        }
        let changed = frozen_fields_changed(pkg, &u.line.package);
        if !changed.is_empty() {
            let fields: Vec<String> = changed.iter().map(|f| format!("`{f}`")).collect();
            refused(
                format!(
                    "upstream's line changed its {} (a published version's name, checksum, dependencies and features never change); kept the mirror's",
                    fields.join(", ")
                ),
                report,
            );
            continue;
        }
        let mut e = entry(
            if dry_run {
                VersionStatus::Planned
            } else {
                VersionStatus::Refreshed
            },
            None,
        );
        e.yanked = Some(u.line.package.yanked);
        report.versions.push(e);
        shell.status(
            "Refreshed",
            format!(
                "{} v{}{}",
                pkg.name,
                pkg.vers,
                if u.line.package.yanked {
                    " (yanked upstream)"
                } else {
                    ""
                }
            ),
        );
        replace.insert(pkg.vers.clone(), u.line.clone());
    }
    replace
}

/// `--refresh`: replaces each mirrored line by upstream's current line for that
/// version when they differ only in what a refresh may take (see
/// [`compare_lines`]).
fn refresh(
    writer: &Writer,
    upstream: &Upstream,
    pool: &rayon::ThreadPool,
    dry_run: bool,
    shell: &Shell,
    report: &mut MirrorReport,
) -> Result<()> {
    let mut crates = Vec::new();
    for key in writer.index_keys()? {
        let Some((index, _)) = writer.read_index_key(&key)? else {
            continue;
        };
        let Some(name) = index
            .lines
            .first()
            .and_then(|l| CrateName::new(&l.package.name).ok())
        else {
            continue;
        };
        let keep: HashSet<semver::Version> = index
            .lines
            .iter()
            .filter_map(|l| l.package.version().ok())
            .collect();
        crates.push((name, index, keep));
    }
    let bar = shell.bar(crates.len() as u64, "Refreshing");
    let fetched: Vec<Fetched> = pool.install(|| {
        crates
            .par_iter()
            .map(|(n, _, keep)| {
                let r = fetch_index(upstream, n, keep);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    for ((name, local, _), up) in crates.into_iter().zip(fetched) {
        let replace = compare_lines(&local, &up, dry_run, shell, report);
        if replace.is_empty() || dry_run {
            continue;
        }
        let written = writer.modify_crate(
            &name,
            || Error::NotFound {
                message: format!("`{name}` was removed from the mirror during the refresh"),
            },
            |stored| {
                let mut changed = false;
                for l in &mut stored.index.lines {
                    if let Some(u) = replace.get(&l.package.vers)
                        && frozen_fields_changed(&l.package, &u.package).is_empty()
                        && u.raw != l.raw
                    {
                        *l = u.clone();
                        changed = true;
                    }
                }
                Ok(changed.then_some(()))
            },
        )?;
        if written.is_some() {
            report.written.push(layout::index_key(&name));
        }
    }
    Ok(())
}
