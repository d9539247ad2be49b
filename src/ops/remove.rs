//! `regtool remove`: delete a version's index line and its `.crate`.
//! Floor 5 (`commands`).
//!
//! For crates published by mistake (a secret in them, say). Lockfiles that pin the
//! version break; `yank` is the usual tool. The line goes first, then the file, so
//! no line ever points at a missing `.crate`.

use super::find::{find_version, not_found};
use crate::error::Result;
use crate::name::CrateName;
use crate::output::Shell;
use crate::registry::Registry;
use serde::Serialize;

/// What `remove` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct RemoveOptions {
    /// The crate (any spelling of it).
    pub(crate) name: CrateName,
    /// The version.
    pub(crate) version: semver::Version,
    /// Find the line and file, report them, remove nothing (`--dry-run`).
    pub(crate) dry_run: bool,
}

/// The report of `remove` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RemoveReport {
    /// Crate name as published.
    pub(crate) name: String,
    /// The removed version.
    pub(crate) vers: String,
    /// The removed `.crate` file.
    pub(crate) crate_file: std::path::PathBuf,
    /// Whether the index file was removed (it was the last version).
    pub(crate) index_file_removed: bool,
    /// Present (and `true`) with `--dry-run`: nothing was removed; the report
    /// says what a real run would remove.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
}

/// Removes `opts.version` of the crate `opts.name` (any spelling of it) from
/// the registry. With `dry_run`, finds the line and file and reports them,
/// removing nothing.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown crate or version; [`crate::Error::Io`].
pub(crate) fn remove(reg: &Registry, opts: &RemoveOptions, shell: &Shell) -> Result<RemoveReport> {
    let RemoveOptions {
        name,
        version,
        dry_run,
    } = opts;
    let dry_run = *dry_run;
    let writer = reg.writer(shell)?;
    // Refused here, dry run or not, when the change could not be carried
    // through (the catalogue in a build without it).
    writer.can_change()?;
    let mut found = None;
    writer.modify_crate(
        name,
        || not_found(reg, name.as_str()),
        |stored| {
            let i = find_version(&stored.index, name, version)?;
            let line = stored.index.lines.remove(i);
            found = Some((stored.name.clone(), line, stored.index.lines.is_empty()));
            Ok((!dry_run).then_some(()))
        },
    )?;
    let (stored, line, last) = found.expect("set by the change");
    let key = crate::layout::crate_key(&stored, &line.package.vers);
    if dry_run {
        shell.status(
            "Would remove",
            format!(
                "{} v{}: its line in `{}`{} and `{}` (dry run: nothing was written)",
                line.package.name,
                line.package.vers,
                reg.locate(&crate::layout::index_key(&stored)).display(),
                if last {
                    " (the whole file: its last line)"
                } else {
                    ""
                },
                reg.locate(&key).display()
            ),
        );
    } else {
        writer.delete_crate(&key)?;
        shell.status(
            "Removed",
            format!("{} v{}", line.package.name, line.package.vers),
        );
    }
    Ok(RemoveReport {
        name: line.package.name,
        vers: line.package.vers,
        crate_file: reg.locate(&key),
        index_file_removed: last,
        dry_run,
    })
}
