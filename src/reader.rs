//! The one crate reader `add`, `reindex` and `verify` share: from the bytes of a
//! `.crate` to the index line crates.io would write for it, checking the
//! archive ([`crate::crate_file`]), the manifest ([`crate::manifest`]), that
//! the archive's top folder is `{name}-{version}` of its manifest, and the
//! name and version rules (a valid crate name, a semver version). Floor 1
//! (`input`): imports the core and the other readers.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema>.

use crate::config::Settings;
use crate::crate_file::{self, Limits};
use crate::error::{CrateProblem, Error, Result};
use crate::index::IndexPackage;
use crate::manifest::{self, DepContext};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Longest file name most file systems allow, in bytes: `{name}-{version}.crate`
/// must fit.
pub(crate) const MAX_FILE_NAME: usize = 255;

/// A `.crate` read and checked: its index line (with `cksum`, without `pubtime`)
/// and its size in bytes.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The index line.
    pub(crate) line: IndexPackage,
    /// The name as a checked type.
    pub(crate) name: crate::name::CrateName,
    /// The version as semver.
    pub(crate) version: semver::Version,
    /// Size of the `.crate` in bytes.
    pub(crate) size: u64,
    /// What the catalogue shows of this version (empty when the registry's
    /// `html` setting is off).
    pub(crate) meta: crate::meta::VersionMeta,
}

/// Reads one `.crate` from `source` in one pass and derives its index line,
/// checking the archive, the manifest and the name and version rules; copies the
/// bytes to `copy` if given. `path` names the file in errors; `settings` say
/// which dependency URLs are this registry's.
///
/// # Errors
/// [`Error::Crate`] naming the broken rule ([`CrateProblem`]); [`Error::Io`] if
/// the bytes cannot be read or the copy written.
pub(crate) fn read_entry(
    source: impl Read,
    path: &Path,
    limits: &Limits,
    settings: &Settings,
    copy: Option<&mut dyn Write>,
) -> Result<Entry> {
    let contents = crate_file::read_crate_from(source, path, limits, copy)?;
    let ctx = DepContext { settings };
    let manifest::Manifest {
        package: mut line,
        table,
    } = manifest::read(&contents.manifest, &ctx).map_err(|p| Error::krate(path, p))?;
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
    let meta = if settings.html {
        crate::meta::from_table(&table, &contents.readmes)
    } else {
        crate::meta::VersionMeta::default()
    };
    Ok(Entry {
        line,
        name,
        version,
        size: contents.size,
        meta,
    })
}

/// Reads the `.crate` file at `path` (an input outside the registry); see
/// [`read_entry`].
///
/// # Errors
/// As [`read_entry`]; [`Error::Io`] if the file cannot be opened.
pub(crate) fn read_entry_file(
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
pub(crate) fn input_limits(
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

/// Expands `paths` into `.crate` files: a file is taken as is, a folder gives
/// every `*.crate` below it (sorted; links to files and folders followed).
///
/// # Errors
/// One [`Error::Io`] per path that does not exist or cannot be listed.
#[allow(clippy::disallowed_methods)] // the inputs, not the registry
pub(crate) fn collect_inputs(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Error>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let mut found = Vec::new();
                for e in walkdir::WalkDir::new(p)
                    .follow_links(true)
                    .sort_by_file_name()
                {
                    match e {
                        Ok(e)
                            if e.file_type().is_file()
                                && e.path().extension().is_some_and(|x| x == "crate") =>
                        {
                            found.push(e.into_path())
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let at = e.path().map(Path::to_path_buf).unwrap_or_else(|| p.clone());
                            errors.push(Error::io("list", at, e.into()));
                        }
                    }
                }
                if found.is_empty() {
                    errors.push(Error::Usage(format!(
                        "`{}` holds no `.crate` files",
                        p.display()
                    )));
                }
                files.extend(found);
            }
            Ok(_) => files.push(p.clone()),
            Err(e) => errors.push(Error::io("read", p, e)),
        }
    }
    (files, errors)
}
