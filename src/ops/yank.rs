//! `regtool yank` / `yank --undo`: flip `yanked` on one index line.
//! Floor 5 (`commands`).
//!
//! Same semantics as `cargo yank`: a yanked version stays downloadable for
//! existing lockfiles but is no longer picked by new resolutions. Only that line's
//! `yanked` changes; every other byte of the index file stays the same. Source:
//! <https://doc.rust-lang.org/cargo/commands/cargo-yank.html>.

use super::find::{find_version, not_found};
use crate::error::Result;
use crate::name::CrateName;
use crate::output::Shell;
use crate::registry::{Registry, Writer};
use serde::Serialize;

/// What `yank` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct YankOptions {
    /// The crate (any spelling of it).
    pub(crate) name: CrateName,
    /// The version.
    pub(crate) version: semver::Version,
    /// Unyank instead (`--undo`).
    pub(crate) undo: bool,
    /// Work out the report and write nothing (`--dry-run`).
    pub(crate) dry_run: bool,
}

/// The report of `yank` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct YankReport {
    /// Crate name as published.
    pub(crate) name: String,
    /// The version.
    pub(crate) vers: String,
    /// Whether the version is yanked now.
    pub(crate) yanked: bool,
    /// Whether this run changed anything (false if it already was in that state).
    /// With `--dry-run`: whether a real run would change it.
    pub(crate) changed: bool,
    /// Present (and `true`) with `--dry-run`: nothing was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
}

/// Sets `yanked` to `!undo` on the line of `opts.version` of the crate
/// `opts.name` (any spelling of it). With `dry_run`, works out the same
/// report and writes nothing.
///
/// # Errors
/// [`crate::Error::NotFound`] (with the nearest names or the versions there are)
/// for an unknown crate or version; [`crate::Error::Io`], [`crate::Error::IndexFile`].
pub(crate) fn yank(reg: &Registry, opts: &YankOptions, shell: &Shell) -> Result<YankReport> {
    yank_with(&reg.writer(shell)?, opts, shell)
}

/// [`yank`] with the registry's writer already taken (`regtool serve`
/// checks who may yank under the same writer).
///
/// # Errors
/// As [`yank`].
pub(crate) fn yank_with(writer: &Writer, opts: &YankOptions, shell: &Shell) -> Result<YankReport> {
    let YankOptions {
        name,
        version,
        undo,
        dry_run,
    } = opts;
    let (undo, dry_run) = (*undo, *dry_run);
    let reg: &Registry = writer;
    // Refused here, dry run or not, when the change could not be carried
    // through (the catalogue in a build without it).
    writer.can_change()?;
    let want = !undo;
    let mut report = None;
    writer.modify_crate(
        name,
        || not_found(reg, name.as_str()),
        |stored| {
            let i = find_version(&stored.index, name, version)?;
            let changed = stored.index.set_yanked(i, want);
            let pkg = &stored.index.lines[i].package;
            report = Some(YankReport {
                name: pkg.name.clone(),
                vers: pkg.vers.clone(),
                yanked: want,
                changed,
                dry_run,
            });
            Ok((changed && !dry_run).then_some(()))
        },
    )?;
    let report = report.expect("set by the change");
    if report.changed && dry_run {
        shell.status(
            if undo { "Would unyank" } else { "Would yank" },
            format!(
                "{}@{} (dry run: nothing was written)",
                report.name, report.vers
            ),
        );
    } else if report.changed {
        shell.status(
            if undo { "Unyank" } else { "Yank" },
            format!("{}@{}", report.name, report.vers),
        );
    } else {
        shell.status(
            "Unchanged",
            format!(
                "{}@{} is already {}",
                report.name,
                report.vers,
                if want { "yanked" } else { "not yanked" }
            ),
        );
    }
    Ok(report)
}
