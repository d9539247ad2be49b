//! `regtool add`: put `.crate` files into the registry.
//! Floor 5 (`commands`).
//!
//! Every input is read once (cksum, tar walk, manifest, and a copy into the
//! registry's temp folder, in parallel); all inputs and the registry's rules are
//! checked before anything is published; then, under the registry lock, each
//! crate's `.crate` files are renamed into `crates/` and its index file is written
//! once. The rules checked are crates.io's: names equal after lowercasing and
//! `-` to `_` are one crate (a second spelling is refused, naming the first); a
//! version appears once, ignoring build metadata; the same bytes again are a
//! no-op, other bytes under an existing version an error.

use crate::crate_file::Limits;
use crate::error::{CrateProblem, Error, Result};
use crate::index::{DepKind, IndexFile, IndexPackage, version_key};
use crate::layout;
use crate::name::CrateName;
use crate::output::Shell;
use crate::reader::{self, Entry};
use crate::registry::{self, Publication, Registry};
use crate::storage::Revision;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Options of `add`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddOptions {
    /// `.crate` files, or folders to search for them.
    pub(crate) paths: Vec<PathBuf>,
    /// Turn unsatisfied same-registry dependencies into errors.
    pub(crate) strict: bool,
    /// Override the registry's `max-crate-size` (bytes).
    pub(crate) max_crate_size: Option<u64>,
    /// Override the registry's `max-unpacked-size` (bytes).
    pub(crate) max_unpacked_size: Option<u64>,
    /// Check everything and report what would be published, but write nothing
    /// (`--dry-run`).
    pub(crate) dry_run: bool,
}

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AddStatus {
    /// The version was published.
    Added,
    /// The same bytes were already there; nothing changed.
    Skipped,
}

/// One crate version in the `add` report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AddedCrate {
    /// Crate name.
    pub(crate) name: String,
    /// Version.
    pub(crate) vers: String,
    /// SHA-256 of the `.crate`.
    pub(crate) cksum: String,
    /// Size of the `.crate` in bytes.
    pub(crate) size: u64,
    /// Added or skipped.
    pub(crate) status: AddStatus,
    /// The input file.
    pub(crate) source: PathBuf,
}

/// The report of `add` (its `--format json` schema).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct AddReport {
    /// Every input version, in the order they were published.
    pub(crate) crates: Vec<AddedCrate>,
    /// Warnings (unsatisfied dependencies without `--strict`).
    pub(crate) warnings: Vec<String>,
    /// The key of every object written (relative to the registry), in the
    /// order written: the `.crate` files, then the index files, dependencies
    /// before dependents. Empty when nothing changed. With `--dry-run`, what a
    /// real run would write. The catalogue's files ([`crate::catalogue`]) are
    /// not listed.
    pub(crate) written: Vec<String>,
    /// Present (and `true`) with `--dry-run`: nothing was written; `crates`
    /// and `written` say what a real run would do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
}

/// An input read and checked, its bytes copied into a staging file.
struct Prepared {
    source: PathBuf,
    name: CrateName,
    version: semver::Version,
    entry: IndexPackage,
    size: u64,
    meta: crate::meta::VersionMeta,
    tmp: tempfile::NamedTempFile,
}

/// Reads and checks one `.crate` (see the module docs) against the registry's
/// format rules, copying it into a staging file.
fn prepare(reg: &Registry, path: &Path, limits: &Limits) -> Result<Prepared> {
    let mut tmp = reg.staging_file()?;
    let Entry {
        line,
        name,
        version,
        size,
        meta,
    } = reader::read_entry_file(path, limits, &reg.settings, Some(tmp.as_file_mut()))?;
    // Checked and complete: its bytes go out to the disk while the other
    // inputs are read, so the barrier under the lock has less to wait for.
    reg.staging_done(&tmp);
    Ok(Prepared {
        source: path.to_path_buf(),
        name,
        version,
        entry: line,
        size,
        meta,
        tmp,
    })
}

/// Adds the `.crate` files at `opts.paths` (files or folders) to `reg`.
///
/// Nothing is written unless every input passes; then each crate's files are
/// published dependencies-first, `.crate` before index line.
///
/// # Errors
/// The one error if a single input is bad, otherwise [`Error::Rejected`] listing
/// every problem: unreadable or invalid `.crate` files ([`Error::Crate`] with a
/// [`CrateProblem`]), names that collide with existing crates, versions already
/// present with other bytes or other build metadata, and (with `strict`)
/// unsatisfied dependencies. [`Error::Io`] if publishing fails.
pub(crate) fn add(reg: &Registry, opts: &AddOptions, shell: &Shell) -> Result<AddReport> {
    add_with(reg, opts, shell, |_| Ok(()))
}

/// [`add`] with `under_writer` called once the registry's writer is taken,
/// before anything is checked against the registry or written, under the
/// writer that then adds (`regtool serve` authorizes a publish and claims a
/// new crate for its publisher there, so that no other writer comes between
/// the check and the add). An error of `under_writer` ends the run with
/// nothing more written.
///
/// # Errors
/// As [`add`] (converted into `E`), and `under_writer`'s error.
pub(crate) fn add_with<E: From<Error>>(
    reg: &Registry,
    opts: &AddOptions,
    shell: &Shell,
    under_writer: impl FnOnce(&registry::Writer) -> std::result::Result<(), E>,
) -> std::result::Result<AddReport, E> {
    let (prepared, mut problems) = read_inputs(reg, opts, shell);
    // Many files: one barrier per step instead of a sync per file.
    let durability = registry::batch_durability(prepared.len());
    let groups = group_batch(prepared, &mut problems);
    if !problems.is_empty() {
        return Err(rejected(problems).into());
    }
    let writer = reg.writer(shell)?;
    // Refused here, dry run or not, when the change could not be carried
    // through (the catalogue in a build without it).
    writer.can_change()?;
    under_writer(&writer)?;
    // Copies a killed `add` left behind (a day old: no live run waits that long
    // between reading its inputs and taking the lock).
    if !opts.dry_run {
        writer.clean_temp(std::time::Duration::from_secs(24 * 3600), false)?;
    }
    let mut report = AddReport::default();
    let plans = plan_against_registry(&writer, groups, &mut problems)?;
    check_dependencies(&writer, &plans, opts, shell, &mut report, &mut problems)?;
    if !problems.is_empty() {
        return Err(rejected(problems).into());
    }
    let (batch, mut added) = build_batch(&writer, plans, opts, shell, &mut report)?;
    if opts.dry_run {
        dry_run_report(&batch, added, shell, &mut report);
        return Ok(report);
    }
    report.written = writer.publish(batch, durability, |name| {
        for a in added.remove(&name.canonical()).unwrap_or_default() {
            shell.status("Adding", format!("{} v{}", a.name, a.vers));
            report.crates.push(a);
        }
    })?;
    Ok(report)
}

/// Reads and checks every input (in parallel), each copied into a staging
/// file; the inputs that fail come back as problems.
fn read_inputs(reg: &Registry, opts: &AddOptions, shell: &Shell) -> (Vec<Prepared>, Vec<Error>) {
    let limits = reader::input_limits(&reg.settings, opts.max_crate_size, opts.max_unpacked_size);
    let (files, mut problems) = reader::collect_inputs(&opts.paths);
    let bar = shell.bar(files.len() as u64, "Reading");
    // Largest first, so that the workers finish close together (one big
    // crate last would leave one core idle while it inflates); the results
    // go back into the order of the inputs.
    let mut order: Vec<(u64, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (input_size(f), i))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut results: Vec<(usize, Result<Prepared>)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&(_, i)| {
            let r = prepare(reg, &files[i], &limits);
            bar.inc(1);
            (i, r)
        })
        .collect();
    bar.finish_and_clear();
    results.sort_by_key(|(i, _)| *i);
    let mut prepared = Vec::new();
    for (_, r) in results {
        match r {
            Ok(p) => prepared.push(p),
            Err(e) => problems.push(e),
        }
    }
    (prepared, problems)
}

/// The size in bytes of the input file at `path` (0 if it cannot be read:
/// reading it reports the problem), to schedule the largest first.
#[allow(clippy::disallowed_methods)] // an input file, not the registry
fn input_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Groups the batch by crate, checking it against itself: one spelling per
/// crate, one file per version (the same file given twice counts once).
fn group_batch(
    prepared: Vec<Prepared>,
    problems: &mut Vec<Error>,
) -> BTreeMap<String, Vec<Prepared>> {
    let mut groups: BTreeMap<String, Vec<Prepared>> = BTreeMap::new();
    for p in prepared {
        let group = groups.entry(p.name.canonical()).or_default();
        if let Some(first) = group.first()
            && first.name != p.name
        {
            problems.push(Error::krate(
                &p.source,
                CrateProblem::NameConflict {
                    name: p.name.to_string(),
                    existing: first.name.to_string(),
                },
            ));
            continue;
        }
        if let Some(other) = group
            .iter()
            .find(|o| version_key(&o.version) == version_key(&p.version))
        {
            if other.entry.cksum == p.entry.cksum && other.entry.vers == p.entry.vers {
                continue; // the same file given twice
            }
            problems.push(Error::krate(&p.source, collision(&p, &other.entry)));
            continue;
        }
        group.push(p);
    }
    groups
}

/// Checks each crate of the batch against the registry as it is now (under
/// the lock): its spelling, and each version new, present with the same
/// bytes, or colliding.
fn plan_against_registry(
    reg: &Registry,
    groups: BTreeMap<String, Vec<Prepared>>,
    problems: &mut Vec<Error>,
) -> Result<Vec<Plan>> {
    let mut plans = Vec::new();
    for (_, mut group) in groups {
        group.sort_by(|a, b| a.version.cmp(&b.version));
        let name = group[0].name.clone();
        let mut stored = reg.crates_named(&name)?;
        if let Some(other) = reg.other_spelling(&name, &stored)? {
            for p in &group {
                problems.push(Error::krate(
                    &p.source,
                    CrateProblem::NameConflict {
                        name: name.to_string(),
                        existing: other.to_string(),
                    },
                ));
            }
            continue;
        }
        let (index, revision) = match stored.pop() {
            Some(s) => (s.index, s.revision),
            None => (IndexFile::default(), None),
        };
        let mut new = Vec::new();
        let mut present = Vec::new();
        for p in group {
            let hit = index.lines.iter().find(|l| {
                l.package
                    .version()
                    .is_ok_and(|v| version_key(&v) == version_key(&p.version))
            });
            match hit {
                None => new.push(p),
                Some(l) if l.package.vers == p.entry.vers && l.package.cksum == p.entry.cksum => {
                    present.push(p)
                }
                Some(l) => problems.push(Error::krate(&p.source, collision(&p, &l.package))),
            }
        }
        plans.push(Plan {
            name,
            index,
            revision,
            new,
            present,
        });
    }
    Ok(plans)
}

/// The dependencies of the new versions: misdirected ones (a warning), and
/// unsatisfied ones on this registry (a warning, a problem with `strict`).
fn check_dependencies(
    reg: &Registry,
    plans: &[Plan],
    opts: &AddOptions,
    shell: &Shell,
    report: &mut AddReport,
    problems: &mut Vec<Error>,
) -> Result<()> {
    let unsatisfied = unsatisfied_dependencies(reg, plans)?;
    for m in misdirected(reg, plans)? {
        shell.warn(&m);
        report.warnings.push(m);
    }
    for w in unsatisfied {
        if opts.strict {
            problems.push(Error::krate(
                &w.source,
                CrateProblem::UnsatisfiedDependency {
                    dep: w.dep,
                    req: w.req,
                },
            ));
        } else {
            let msg = format!(
                "`{}`: dependency `{}` requires `{}` but no version of it in this registry matches (use `--strict` to refuse such crates)",
                w.source.display(),
                w.dep,
                w.req
            );
            shell.warn(&msg);
            report.warnings.push(msg);
        }
    }
    Ok(())
}

/// The versions of the batch reported once their crate is published.
type Added = HashMap<String, Vec<AddedCrate>>;

/// Turns the plans into the batch to publish, dependencies first: the new
/// versions (with this run's `pubtime`) and the `.crate` files of present
/// versions whose file is missing or damaged (a repair). Present versions
/// go to the report at once; new ones come back, by crate, for when their
/// crate is published.
fn build_batch(
    reg: &Registry,
    plans: Vec<Plan>,
    opts: &AddOptions,
    shell: &Shell,
    report: &mut AddReport,
) -> Result<(Vec<Publication>, Added)> {
    let pubtime = crate::index::pubtime_now();
    let mut batch = Vec::new();
    let mut added: Added = HashMap::new();
    for (level, plan) in order_dependencies_first(plans) {
        let Plan {
            name,
            mut index,
            revision,
            new,
            present,
        } = plan;
        let mut crates = Vec::new();
        for p in present {
            if let Some(repair) = present_version(reg, &name, p, opts, shell, report)? {
                crates.push(repair);
            }
        }
        let changed = !new.is_empty();
        let mut new_versions = Vec::new();
        for mut p in new {
            new_versions.push((p.entry.vers.clone(), Some(std::mem::take(&mut p.meta))));
            crates.push((p.entry.vers.clone(), p.tmp));
            p.entry.pubtime = Some(pubtime.clone());
            added.entry(name.canonical()).or_default().push(AddedCrate {
                name: p.entry.name.clone(),
                vers: p.entry.vers.clone(),
                cksum: p.entry.cksum.clone(),
                size: p.size,
                status: AddStatus::Added,
                source: p.source,
            });
            index.push(p.entry);
        }
        batch.push(Publication {
            name,
            level,
            index: changed.then_some(index),
            revision,
            crates,
            added: new_versions,
        });
    }
    Ok((batch, added))
}

/// A version already present with the same bytes: skipped, or its `.crate`
/// restored when the stored one is missing or damaged (returned then, to
/// publish). Reported at once.
fn present_version(
    reg: &Registry,
    name: &CrateName,
    p: Prepared,
    opts: &AddOptions,
    shell: &Shell,
    report: &mut AddReport,
) -> Result<Option<(String, tempfile::NamedTempFile)>> {
    let key = layout::crate_key(name, &p.entry.vers);
    let repaired = reg.sha256(&key)?.as_deref() != Some(p.entry.cksum.as_str());
    let c = AddedCrate {
        name: p.entry.name,
        vers: p.entry.vers.clone(),
        cksum: p.entry.cksum,
        size: p.size,
        status: AddStatus::Skipped,
        source: p.source,
    };
    if repaired {
        let verb = if opts.dry_run {
            "Would restore"
        } else {
            "Restored"
        };
        let why = "its .crate file was missing or damaged";
        shell.status(verb, format!("{} v{} ({why})", c.name, c.vers));
    } else {
        shell.status(
            "Skipped",
            format!("{} v{} (already present)", c.name, c.vers),
        );
    }
    report.crates.push(c);
    Ok(repaired.then_some((p.entry.vers, p.tmp)))
}

/// `--dry-run`: what a real run would write and add, in its order.
fn dry_run_report(batch: &[Publication], mut added: Added, shell: &Shell, report: &mut AddReport) {
    report.dry_run = true;
    report.written = planned_writes(batch);
    for p in batch {
        for a in added.remove(&p.name.canonical()).unwrap_or_default() {
            shell.status("Would add", format!("{} v{}", a.name, a.vers));
            report.crates.push(a);
        }
    }
    shell.status(
        "Dry run",
        format!(
            "{} would be written; nothing was written",
            crate::output::count(report.written.len(), "object")
        ),
    );
}

/// The keys [`registry::Writer::publish`] would write for `batch`, in its order: the
/// `.crate` files, then the index files level by level.
fn planned_writes(batch: &[Publication]) -> Vec<String> {
    let mut out: Vec<String> = batch
        .iter()
        .flat_map(|p| p.crates.iter().map(|(v, _)| layout::crate_key(&p.name, v)))
        .collect();
    let mut indexes: Vec<(usize, String)> = batch
        .iter()
        .filter(|p| p.index.is_some())
        .map(|p| (p.level, layout::index_key(&p.name)))
        .collect();
    indexes.sort_by_key(|(level, _)| *level);
    out.extend(indexes.into_iter().map(|(_, k)| k));
    out
}

/// Warnings for dependencies of the new versions that name another registry
/// whose URL looks like this one's ([`super::foreign`]).
fn misdirected(reg: &Registry, plans: &[Plan]) -> Result<Vec<String>> {
    if reg.settings.mirror {
        return Ok(Vec::new()); // crates.io crates depend on crates.io only
    }
    let mut batch: HashMap<String, Vec<semver::Version>> = HashMap::new();
    for plan in plans {
        batch
            .entry(plan.name.canonical())
            .or_default()
            .extend(plan.new.iter().map(|p| p.version.clone()));
    }
    let mut lookup = super::foreign::VersionLookup::new(reg, batch);
    let mut out = Vec::new();
    for p in plans.iter().flat_map(|plan| plan.new.iter()) {
        for m in super::foreign::misdirected(&reg.settings, &p.entry.deps, |n| lookup.get(n))? {
            out.push(m.message(&p.source.display().to_string(), &reg.settings));
        }
    }
    Ok(out)
}

/// The versions of one crate to publish, with its index file as it is now.
struct Plan {
    name: CrateName,
    index: IndexFile,
    revision: Option<Revision>,
    new: Vec<Prepared>,
    present: Vec<Prepared>,
}

fn collision(p: &Prepared, existing: &IndexPackage) -> CrateProblem {
    if existing.vers == p.entry.vers {
        CrateProblem::VersionExists {
            name: p.entry.name.clone(),
            version: p.entry.vers.clone(),
            existing_cksum: existing.cksum.clone(),
            cksum: p.entry.cksum.clone(),
        }
    } else {
        CrateProblem::BuildMetadataConflict {
            name: p.entry.name.clone(),
            version: p.entry.vers.clone(),
            existing: existing.vers.clone(),
        }
    }
}

fn rejected(mut problems: Vec<Error>) -> Error {
    if problems.len() == 1 {
        problems.pop().expect("one problem")
    } else {
        Error::Rejected { problems }
    }
}

/// A same-registry dependency no version satisfies.
struct Unsatisfied {
    source: PathBuf,
    dep: String,
    req: String,
}

/// Dependencies on this registry (normal and build; not crates.io, not dev) whose
/// requirement no non-yanked version in the registry or in the batch satisfies.
fn unsatisfied_dependencies(reg: &Registry, plans: &[Plan]) -> Result<Vec<Unsatisfied>> {
    if reg.settings.mirror {
        return Ok(Vec::new()); // a mirror's crates.io dependencies are not checked
    }
    let mut versions: HashMap<String, Vec<semver::Version>> = HashMap::new();
    for plan in plans {
        let v = versions.entry(plan.name.canonical()).or_default();
        v.extend(
            plan.index
                .lines
                .iter()
                .filter(|l| !l.package.yanked)
                .filter_map(|l| l.package.version().ok()),
        );
        v.extend(plan.new.iter().map(|p| p.version.clone()));
    }
    let mut out = Vec::new();
    for p in plans.iter().flat_map(|plan| plan.new.iter()) {
        for d in &p.entry.deps {
            if d.registry.is_some() || d.kind == DepKind::Dev {
                continue;
            }
            let dep_name = d.package.as_deref().unwrap_or(&d.name);
            let key = crate::name::canonical(dep_name);
            if !versions.contains_key(&key) {
                // A name that breaks the rules (`"éa"`) is in no registry.
                let stored = match CrateName::new(dep_name) {
                    Ok(n) => reg.find_crate(&n)?,
                    Err(_) => None,
                };
                let found = stored
                    .iter()
                    .flat_map(|s| s.index.lines.iter())
                    .filter(|l| !l.package.yanked)
                    .filter_map(|l| l.package.version().ok())
                    .collect();
                versions.insert(key.clone(), found);
            }
            let ok = semver::VersionReq::parse(&d.req)
                .is_ok_and(|req| versions[&key].iter().any(|v| req.matches(v)));
            if !ok {
                out.push(Unsatisfied {
                    source: p.source.clone(),
                    dep: dep_name.to_string(),
                    req: d.req.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Orders plans so that a crate comes after the crates of this batch it depends
/// on (normal and build dependencies); ties and cycles by name. Each plan comes
/// with its level: 0 for no dependency in the batch, else one more than the
/// highest level of its dependencies placed before it.
fn order_dependencies_first(plans: Vec<Plan>) -> Vec<(usize, Plan)> {
    let names: BTreeSet<String> = plans.iter().map(|p| p.name.canonical()).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &plans {
        let set = deps.entry(p.name.canonical()).or_default();
        for n in &p.new {
            for d in n
                .entry
                .deps
                .iter()
                .filter(|d| d.registry.is_none() && d.kind != DepKind::Dev)
            {
                let key = crate::name::canonical(d.package.as_deref().unwrap_or(&d.name));
                if names.contains(&key) && key != p.name.canonical() {
                    set.insert(key);
                }
            }
        }
    }
    let mut by_name: BTreeMap<String, Plan> =
        plans.into_iter().map(|p| (p.name.canonical(), p)).collect();
    let mut levels: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    while !by_name.is_empty() {
        let ready = by_name
            .keys()
            .find(|k| deps[*k].iter().all(|d| !by_name.contains_key(d)))
            .or_else(|| by_name.keys().next())
            .cloned()
            .expect("non-empty");
        let level = deps[&ready]
            .iter()
            .filter_map(|d| levels.get(d))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        levels.insert(ready.clone(), level);
        out.push((level, by_name.remove(&ready).expect("present")));
    }
    out
}
