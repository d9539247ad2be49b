//! `regtool remove`: delete a version's index line and its `.crate`.
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

/// Removes `version` of the crate `name` (any spelling of it) from the registry.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown crate or version; [`crate::Error::Io`].
pub fn remove(
    reg: &Registry,
    name: &CrateName,
    version: &semver::Version,
    shell: &Shell,
) -> Result<RemoveReport> {
    let _lock = super::lock(reg, shell)?;
    let (stored, (line, last)) = reg
        .modify_crate(
            name,
            || not_found(reg, name.as_str()),
            |stored| {
                let i = find_version(&stored.index, name, version)?;
                let line = stored.index.lines.remove(i);
                Ok(Some((line, stored.index.lines.is_empty())))
            },
        )?
        .expect("a removal always writes");
    let key = Registry::crate_key(&stored, &line.package.vers);
    reg.delete_crate(&key)?;
    shell.status(
        "Removed",
        format!("{} v{}", line.package.name, line.package.vers),
    );
    Ok(RemoveReport {
        name: line.package.name,
        vers: line.package.vers,
        crate_file: reg.locate(&key),
        index_file_removed: last,
    })
}
