//! The one crate reader `add`, `reindex` and `verify` share: from the bytes of a
//! `.crate` to the index line crates.io would write for it.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>
//! and `DESIGN.md` §2–3.

use crate::config::Settings;
use crate::crate_file::{self, Limits};
use crate::error::{CrateProblem, Error, Result};
use crate::index::IndexPackage;
use crate::manifest::{self, DepContext};
use std::io::{Read, Write};
use std::path::Path;

/// Longest file name most file systems allow, in bytes: `{name}-{version}.crate`
/// must fit.
pub const MAX_FILE_NAME: usize = 255;

/// A `.crate` read and checked: its index line (with `cksum`, without `pubtime`)
/// and its size in bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The index line.
    pub line: IndexPackage,
    /// The name as a checked type.
    pub name: crate::name::CrateName,
    /// The version as semver.
    pub version: semver::Version,
    /// Size of the `.crate` in bytes.
    pub size: u64,
}

/// Reads one `.crate` from `source` in one pass and derives its index line,
/// checking the archive, the manifest and the name and version rules; copies the
/// bytes to `copy` if given. `path` names the file in errors; `settings` say
/// which dependency URLs are this registry's.
///
/// # Errors
/// [`Error::Crate`] naming the broken rule ([`CrateProblem`]); [`Error::Io`] if
/// the bytes cannot be read or the copy written.
pub fn read_entry(
    source: impl Read,
    path: &Path,
    limits: &Limits,
    settings: &Settings,
    copy: Option<&mut dyn Write>,
) -> Result<Entry> {
    let contents = crate_file::read_crate_from(source, path, limits, copy)?;
    let ctx = DepContext { settings };
    let mut line =
        manifest::to_index_package(&contents.manifest, &ctx).map_err(|p| Error::krate(path, p))?;
    let expected_top = format!("{}-{}", line.name, line.vers);
    if contents.top != expected_top {
        return Err(Error::krate(
            path,
            CrateProblem::FolderMismatch {
                manifest: expected_top,
                folder: contents.top,
            },
        ));
    }
    let file_name = expected_top.len() + ".crate".len();
    if file_name > MAX_FILE_NAME {
        return Err(Error::krate(
            path,
            CrateProblem::NameTooLong {
                len: file_name,
                limit: MAX_FILE_NAME,
            },
        ));
    }
    let name = crate::name::CrateName::new(&line.name).map_err(|reason| {
        Error::krate(
            path,
            CrateProblem::InvalidName {
                name: line.name.clone(),
                reason,
            },
        )
    })?;
    let version = line
        .version()
        .map_err(|e| Error::krate(path, CrateProblem::InvalidManifest(e.to_string())))?;
    line.cksum = contents.cksum;
    Ok(Entry {
        line,
        name,
        version,
        size: contents.size,
    })
}

/// Reads the `.crate` file at `path` (an input outside the registry); see
/// [`read_entry`].
///
/// # Errors
/// As [`read_entry`]; [`Error::Io`] if the file cannot be opened.
pub fn read_entry_file(
    path: &Path,
    limits: &Limits,
    settings: &Settings,
    copy: Option<&mut dyn Write>,
) -> Result<Entry> {
    #[allow(clippy::disallowed_methods)] // an input file, not the registry
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
    if meta.is_file() && meta.len() > limits.max_crate_size {
        return Err(Error::krate(
            path,
            CrateProblem::TooLarge {
                size: meta.len(),
                limit: limits.max_crate_size,
            },
        ));
    }
    read_entry(file, path, limits, settings, copy)
}

/// The registry's size limits for new input, with per-run overrides (bytes).
pub fn input_limits(
    settings: &Settings,
    max_crate_size: Option<u64>,
    max_unpacked_size: Option<u64>,
) -> Limits {
    Limits {
        max_crate_size: max_crate_size.unwrap_or(settings.max_crate_size),
        max_unpacked_size: max_unpacked_size.unwrap_or(settings.max_unpacked_size),
        ..Limits::default()
    }
}
