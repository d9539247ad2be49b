//! `regtool remove`: delete a version's index line and its `.crate`.
//!
//! For crates published by mistake (a secret in them, say). Lockfiles that pin the
//! version break; `yank` is the usual tool. The line goes first, then the file, so
//! no line ever points at a missing `.crate`.

use super::find::{find_version, load_existing};
use crate::error::Result;
use crate::fs as rfs;
use crate::output::Shell;
use crate::registry::Registry;
use serde::Serialize;

/// The report of `remove` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    /// Crate name as published.
    pub name: String,
    /// The removed version.
    pub vers: String,
    /// The removed `.crate` file.
    pub crate_file: std::path::PathBuf,
    /// Whether the index file was removed (it was the last version).
    pub index_file_removed: bool,
}

/// Removes `name` `version` from the registry.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown crate or version; [`crate::Error::Io`].
pub fn remove(reg: &Registry, name: &str, version: &str, shell: &Shell) -> Result<RemoveReport> {
    let _lock = super::lock(reg, shell)?;
    let mut index = load_existing(reg, name)?;
    let i = find_version(&index, name, version)?;
    let line = index.lines.remove(i);
    reg.store_index(name, &index)?;
    let crate_file = reg.crate_path(&line.package.name, &line.package.vers);
    rfs::remove_file(&crate_file)?;
    if let Some(dir) = crate_file.parent()
        && std::fs::remove_dir(dir).is_ok()
    {
        rfs::sync_dir(dir.parent().unwrap_or(reg.root()))?;
    }
    shell.status(
        "Removed",
        format!("{} v{}", line.package.name, line.package.vers),
    );
    Ok(RemoveReport {
        name: line.package.name,
        vers: line.package.vers,
        crate_file,
        index_file_removed: index.lines.is_empty(),
    })
}
