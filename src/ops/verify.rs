//! `regtool verify`: check a registry and report every problem found.
//!
//! Checks: `config.json`; every index file parses (each line also as cargo's own
//! `IndexPackage`), ends in a newline, sits at the path of its name and holds one
//! crate; no version twice (build metadata ignored); every line has its `.crate`,
//! whose SHA-256 matches `cksum`; every `.crate` has a line. `deep` also
//! re-derives each line from its `.crate` and reports the fields that differ.
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html>.

use super::add::{limits, read_entry};
use crate::config::{RegistryConfig, Settings};
use crate::error::{Error, Result};
use crate::index::{IndexPackage, version_key};
use crate::name;
use crate::output::Shell;
use crate::registry::{Registry, STATE_DIR};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Options of `verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Re-derive every line from its `.crate` and compare.
    pub deep: bool,
}

/// One problem found (an item of the `--format json` report).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file the problem is about.
    pub path: PathBuf,
    /// A stable keyword: `config`, `index-unreadable`, `index-line`, `truncated`,
    /// `wrong-path`, `mixed-names`, `duplicate-version`, `missing-crate`,
    /// `cksum-mismatch`, `orphan-crate`, `crate-unreadable`, `differs`.
    pub kind: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// The report of `verify` (its `--format json` schema).
#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    /// Index files read.
    pub index_files: usize,
    /// Index lines read.
    pub versions: usize,
    /// `.crate` files found under `crates/`.
    pub crate_files: usize,
    /// Whether `--deep` was used.
    pub deep: bool,
    /// Every problem, sorted by path.
    pub problems: Vec<Problem>,
}

struct Job {
    line_path: PathBuf,
    crate_path: PathBuf,
    line: IndexPackage,
}

/// Checks the registry at `root` (see the module docs), holding the registry
/// lock shared so that it sees the registry between two changes.
///
/// # Errors
/// [`Error::NotARegistry`] if `root` is not a registry; [`Error::Io`] if a folder
/// cannot be listed. Problems in the registry are not errors: they are in the
/// report.
pub fn verify(root: &Path, opts: &VerifyOptions, shell: &Shell) -> Result<VerifyReport> {
    let settings_path = root.join(STATE_DIR).join("config.toml");
    let config_path = root.join("config.json");
    if !config_path.exists() || !settings_path.exists() {
        return Err(Error::NotARegistry {
            path: root.to_path_buf(),
        });
    }
    let mut problems = Vec::new();
    let config = match RegistryConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem {
                path: config_path.clone(),
                kind: "config",
                message: e.to_string(),
            });
            RegistryConfig::for_base_url("http://invalid", false)
        }
    };
    let settings = Settings::load(&settings_path)?;
    let reg = Registry::from_parts(root, config, settings);
    // See the registry between two changes, not in the middle of one.
    let _lock = super::lock_shared(&reg, shell)?;
    let mut report = VerifyReport {
        deep: opts.deep,
        ..Default::default()
    };

    let mut jobs = Vec::new();
    let mut expected_crates = BTreeSet::new();
    for rel in reg.index_files()? {
        report.index_files += 1;
        let path = root.join(&rel);
        let mut problem = |kind, message: String| {
            problems.push(Problem {
                path: path.clone(),
                kind,
                message,
            })
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                problem("index-unreadable", format!("cannot read: {e}"));
                continue;
            }
        };
        if bytes.is_empty() {
            problem("truncated", "the index file is empty".into());
            continue;
        }
        if !bytes.ends_with(b"\n") {
            problem(
                "truncated",
                "the last line does not end in a newline (a truncated write?)".into(),
            );
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            problem("index-unreadable", "not UTF-8".into());
            continue;
        };
        let mut first_name: Option<String> = None;
        let mut seen: BTreeMap<(u64, u64, u64, String), String> = BTreeMap::new();
        for (i, raw) in text.split('\n').enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            report.versions += 1;
            let n = i + 1;
            let line: IndexPackage = match serde_json::from_str(raw) {
                Ok(l) => l,
                Err(e) => {
                    problem(
                        "index-line",
                        format!("line {n} is not a valid index line: {e}"),
                    );
                    continue;
                }
            };
            if let Err(e) = serde_json::from_str::<cargo_util_schemas::index::IndexPackage<'_>>(raw)
            {
                problem(
                    "index-line",
                    format!("line {n} cannot be read by cargo: {e}"),
                );
            }
            if let Err(reason) = name::CrateName::new(&line.name) {
                problem(
                    "index-line",
                    format!("line {n}: invalid crate name `{}`: {reason}", line.name),
                );
                continue;
            }
            let Ok(version) = line.version() else {
                problem(
                    "index-line",
                    format!("line {n}: invalid version `{}`", line.vers),
                );
                continue;
            };
            match &first_name {
                None => {
                    if name::index_path(&line.name) != rel {
                        problem(
                            "wrong-path",
                            format!(
                                "holds crate `{}`, whose index file is `{}`",
                                line.name,
                                name::index_path(&line.name)
                            ),
                        );
                    }
                    first_name = Some(line.name.clone());
                }
                Some(f) if *f != line.name => {
                    problem(
                        "mixed-names",
                        format!(
                            "line {n} is for crate `{}` but the file is for `{f}`",
                            line.name
                        ),
                    );
                }
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
            let crate_path = reg.crate_path(&line.name, &line.vers);
            expected_crates.insert(crate_path.clone());
            jobs.push(Job {
                line_path: path.clone(),
                crate_path,
                line,
            });
        }
    }

    let limits = limits(&reg, None, None);
    let bar = shell.bar(jobs.len() as u64, "Verifying");
    let found: Vec<Vec<Problem>> = jobs
        .par_iter()
        .map(|job| {
            let r = check_crate(&reg, job, opts.deep, &limits);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    problems.extend(found.into_iter().flatten());

    let files = reg.crate_files()?;
    report.crate_files = files.len();
    for file in files {
        if !expected_crates.contains(&file) {
            problems.push(Problem {
                path: file,
                kind: "orphan-crate",
                message: "no index line points at this .crate (`regtool reindex` indexes it)"
                    .into(),
            });
        }
    }
    problems.sort();
    report.problems = problems;
    Ok(report)
}

fn check_crate(
    reg: &Registry,
    job: &Job,
    deep: bool,
    limits: &crate::crate_file::Limits,
) -> Vec<Problem> {
    let id = format!("{} v{}", job.line.name, job.line.vers);
    let problem = |path: &Path, kind, message: String| Problem {
        path: path.to_path_buf(),
        kind,
        message,
    };
    if !job.crate_path.is_file() {
        return vec![problem(
            &job.line_path,
            "missing-crate",
            format!("{id} has no .crate file at `{}`", job.crate_path.display()),
        )];
    }
    if deep {
        return match read_entry(reg, &job.crate_path, limits, None) {
            Err(e) => vec![problem(&job.crate_path, "crate-unreadable", e.to_string())],
            Ok((derived, _)) => {
                let mut out = Vec::new();
                if derived.cksum != job.line.cksum {
                    out.push(cksum_problem(job, &derived.cksum));
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
    match crate::crate_file::sha256_file(&job.crate_path) {
        Err(e) => vec![problem(
            &job.crate_path,
            "crate-unreadable",
            format!("cannot read: {e}"),
        )],
        Ok(sum) if sum != job.line.cksum => vec![cksum_problem(job, &sum)],
        Ok(_) => Vec::new(),
    }
}

fn cksum_problem(job: &Job, actual: &str) -> Problem {
    Problem {
        path: job.crate_path.clone(),
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
