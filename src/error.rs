//! The library's error type and the exit codes it maps to.
//!
//! Every error names the file it is about. Exit codes: `0` ok, `1` input
//! rejected or problems found, `2` usage or I/O. Messages read like cargo's:
//! lowercase, the path in backticks, the cause chain below. Floor 0 (`core`):
//! imports nothing of the crate.

use std::fmt;
use std::path::PathBuf;

/// Exit code: the input was rejected or `verify` found problems.
pub(crate) const EXIT_REJECTED: i32 = 1;
/// Exit code: bad usage, or an I/O failure (disk, permissions, lock).
pub(crate) const EXIT_IO: i32 = 2;

/// Why a `.crate` file (or the version it carries) cannot go into the registry.
///
/// Each variant is one rule of the registry format or of crates.io's
/// publishing rules (a valid name, one spelling per crate, a version once
/// whatever its build metadata, a safe archive); see
/// <https://doc.rust-lang.org/cargo/reference/registry-index.html> and
/// <https://doc.rust-lang.org/cargo/reference/manifest.html#the-name-field>.
#[derive(Debug, thiserror::Error)]
pub enum CrateProblem {
    /// The file does not start with the gzip magic bytes.
    #[error("not a gzip file (a .crate is a gzip-compressed tar archive)")]
    NotGzip,
    /// The gzip stream or the tar inside it ends early or is corrupt.
    #[error("corrupt or truncated archive: {0}")]
    Corrupt(String),
    /// The archive has no `{name}-{version}/Cargo.toml`.
    #[error("the archive has no `Cargo.toml` in its top folder{}", .0.as_ref().map(|f| format!(" `{f}/`")).unwrap_or_default())]
    NoManifest(Option<String>),
    /// `Cargo.toml` is not valid TOML, or not a manifest cargo can read.
    #[error("invalid `Cargo.toml`: {0}")]
    InvalidManifest(String),
    /// `{name}-{version}.crate` is too long to be a file name.
    #[error(
        "the version is too long: the file name `{{name}}-{{version}}.crate` would be {len} bytes, over the limit of {limit}"
    )]
    NameTooLong {
        /// Length of the file name in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The archive holds `Cargo.toml` twice, and the copies differ (byte-identical
    /// copies, as cargo of 2015 packaged them, are accepted).
    #[error(
        "the archive holds `{0}` twice and the copies differ; cargo would unpack the last copy, the index would describe the first"
    )]
    DuplicateManifest(String),
    /// A file sits at the archive's root instead of under `{name}-{version}/`.
    #[error(
        "archive entry `{0}` is a file at the archive's root; everything in a .crate sits under one folder `{{name}}-{{version}}/`"
    )]
    RootFile(String),
    /// Bytes follow the end of the gzip member (a second member, or junk).
    #[error(
        "data after the end of the gzip stream (a second gzip member?): cargo would read only the first"
    )]
    TrailingData,
    /// The manifest's name/version do not match the archive's top folder.
    #[error("the manifest says `{manifest}` but the archive's top folder is `{folder}/`")]
    FolderMismatch {
        /// `{name}-{version}` from the manifest.
        manifest: String,
        /// The first path component of the archive's entries.
        folder: String,
    },
    /// An entry sits outside `{name}-{version}/`, or uses `..` or an absolute path.
    #[error("archive entry `{0}` is outside the crate's top folder")]
    EntryOutside(String),
    /// An entry is a symlink, hardlink, device or other non-regular file.
    #[error("archive entry `{entry}` is a {kind}; only regular files and folders are allowed")]
    BadEntryType {
        /// The entry's path.
        entry: String,
        /// What it is (`symlink`, `hardlink`, ...).
        kind: &'static str,
    },
    /// An entry's path is not valid UTF-8.
    #[error("archive entry `{0}` has a name that is not UTF-8")]
    NonUtf8Path(String),
    /// The crate name breaks crates.io's naming rules.
    #[error("invalid crate name `{name}`: {reason}")]
    InvalidName {
        /// The name as written in the manifest.
        name: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The `.crate` file is larger than the registry's limit.
    #[error(
        "the file is {size} bytes, over the limit of {limit} bytes (raise it with `--max-crate-size`)"
    )]
    TooLarge {
        /// Size of the file in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The archive inflates to more than the limit (a gzip bomb, or a huge crate).
    #[error(
        "the archive inflates to more than {limit} bytes (raise it with `--max-unpacked-size`)"
    )]
    UnpackedTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// `Cargo.toml` is larger than the limit.
    #[error("`Cargo.toml` is {size} bytes, over the limit of {limit} bytes")]
    ManifestTooLarge {
        /// Size in bytes.
        size: u64,
        /// Limit in bytes.
        limit: u64,
    },
    /// The manifest has more of something than crates.io allows.
    #[error("the manifest has {count} {what}, over crates.io's limit of {limit}")]
    OverLimit {
        /// What was counted (`dependencies`, `features`, ...).
        what: String,
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A crate with the same name but another spelling is already there.
    #[error(
        "crate `{name}` conflicts with the existing crate `{existing}` (names that differ only by case or `-`/`_` are the same crate)"
    )]
    NameConflict {
        /// The name being added.
        name: String,
        /// The name already in the registry (or earlier in the same batch).
        existing: String,
    },
    /// The version is already present with other bytes.
    #[error(
        "{name} v{version} is already in the registry with a different checksum (existing {existing_cksum}, this file {cksum}); versions cannot be replaced, publish a new version"
    )]
    VersionExists {
        /// Crate name.
        name: String,
        /// The version.
        version: String,
        /// cksum of the existing `.crate`.
        existing_cksum: String,
        /// cksum of this file.
        cksum: String,
    },
    /// The version differs from an existing one only by build metadata.
    #[error(
        "{name} v{version} collides with the existing v{existing}: versions that differ only in build metadata (`+...`) are the same version"
    )]
    BuildMetadataConflict {
        /// Crate name.
        name: String,
        /// The version being added.
        version: String,
        /// The version already present.
        existing: String,
    },
    /// A dependency of this crate in this registry has no matching version (`--strict`).
    #[error("dependency `{dep}` requires `{req}` but no version of it in this registry matches")]
    UnsatisfiedDependency {
        /// The dependency's package name.
        dep: String,
        /// Its version requirement.
        req: String,
    },
}

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What we were doing (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The folder is not a registry made by `regtool init`.
    #[error("`{}` is not a regtool registry (no `config.json` and `.regtool/` there); create one with `regtool init {} --url URL`, or point at one with `--registry DIR`", path.display(), path.display())]
    NotARegistry {
        /// The folder.
        path: PathBuf,
    },
    /// `init` found a registry already there.
    #[error("`{}` already holds a registry (`{}` exists); refusing to overwrite it", path.display(), found.display())]
    AlreadyExists {
        /// The registry folder.
        path: PathBuf,
        /// The file that shows it.
        found: PathBuf,
    },
    /// A setting (`config.json`, `.regtool/config.toml`, a flag) is invalid.
    #[error("`{}`: {message}", path.display())]
    Config {
        /// The file holding the setting, or the folder for a flag.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `.crate` file breaks a rule.
    #[error("`{}`: {problem}", path.display())]
    Crate {
        /// The `.crate` file.
        path: PathBuf,
        /// The rule it breaks.
        problem: CrateProblem,
    },
    /// An index file could not be read as index lines.
    #[error("`{}` line {line}: {message}", path.display())]
    IndexFile {
        /// The index file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A crate or version the user named is not in the registry.
    #[error("{message}")]
    NotFound {
        /// What was not found, with hints.
        message: String,
    },
    /// Several inputs were rejected; nothing was written.
    #[error("{} rejected; nothing was written", crate::output::count(problems.len(), "input"))]
    Rejected {
        /// One error per problem.
        problems: Vec<Error>,
    },
    /// Problems found by `verify`.
    #[error("{} found", crate::output::count(*count, "problem"))]
    ProblemsFound {
        /// How many.
        count: usize,
    },
    /// Another writer kept changing an object while this command tried to
    /// change it (compare-and-swap failed too often).
    #[error("`{}` was changed by another writer while this command was changing it; run the command again", path.display())]
    Conflict {
        /// The object.
        path: PathBuf,
    },
    /// The registry's lock or lease: not taken in time (`--lock-timeout`),
    /// lost while writing (a lease not renewed in time, or taken over), or
    /// refused (`unlock` of a lease that is still renewed).
    #[error("`{}`: {message}", path.display())]
    Lock {
        /// The lock file or lease object.
        path: PathBuf,
        /// What happened, naming the holder where it is known.
        message: String,
    },
    /// The registry's storage could not be reached, or answered with a
    /// server error, after the client's retries (an S3 endpoint down or
    /// answering 5xx): a passing outage, worth retrying later.
    #[error("failed to {action} `{}`: the storage is unavailable", path.display())]
    Unavailable {
        /// What we were doing (`read`, `write`, ...).
        action: &'static str,
        /// The object (`s3://bucket/key`).
        path: PathBuf,
        /// The transport's error.
        #[source]
        source: std::io::Error,
    },
    /// A key the storage layer refuses: absolute, or with an empty, `.` or
    /// `..` component (it could name something outside the registry).
    #[error("`{key}` is not a key of this registry: {reason}")]
    BadKey {
        /// The key as given.
        key: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The bucket of an `s3://` registry does not exist, or the server
    /// denied access to it.
    #[error("{message}")]
    Bucket {
        /// The registry (`s3://bucket/prefix`) or object the request was about.
        path: PathBuf,
        /// One sentence naming the bucket and what to do.
        message: String,
    },
    /// The registry needs a newer regtool to be changed (its settings'
    /// `min-writer-version` is above this regtool's).
    #[error("`{}` needs regtool writer version {needs} or later to be changed (this regtool writes version {have}); install a newer regtool", path.display())]
    WriterVersion {
        /// The settings file.
        path: PathBuf,
        /// The registry's `min-writer-version`.
        needs: u32,
        /// This regtool's writer version.
        have: u32,
    },
    /// The registry needs a part of regtool this build was made without (a
    /// Cargo feature left out with `--no-default-features`): an S3 bucket
    /// without `s3`, a catalogue without `html`. Nothing was written.
    #[error("`{}`: {needs} needs the `{feature}` feature, which this regtool was built without; install a build with it (`cargo install --locked --path . --features {feature}` in a clone of regtool, or the default features){hint}", path.display())]
    FeatureMissing {
        /// The registry (or the settings file that asks for the part).
        path: PathBuf,
        /// The feature (`s3`, `html`).
        feature: &'static str,
        /// What needs it.
        needs: &'static str,
        /// What else the user can do (empty, or starting with `; `).
        hint: &'static str,
    },
    /// Invalid command-line usage found by the library.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code for this error: [`EXIT_REJECTED`] for rejected input
    /// and found problems, [`EXIT_IO`] for I/O, usage and setup problems.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Crate { .. }
            | Error::Rejected { .. }
            | Error::ProblemsFound { .. }
            | Error::NotFound { .. }
            | Error::IndexFile { .. }
            | Error::NotARegistry { .. }
            | Error::AlreadyExists { .. } => EXIT_REJECTED,
            Error::Io { .. }
            | Error::Unavailable { .. }
            | Error::Config { .. }
            | Error::Usage(_)
            | Error::Conflict { .. }
            | Error::Lock { .. }
            | Error::BadKey { .. }
            | Error::Bucket { .. }
            | Error::WriterVersion { .. }
            | Error::FeatureMissing { .. } => EXIT_IO,
        }
    }

    /// The file this error is about, if any.
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. }
            | Error::Unavailable { path, .. }
            | Error::NotARegistry { path }
            | Error::AlreadyExists { path, .. }
            | Error::Config { path, .. }
            | Error::Crate { path, .. }
            | Error::IndexFile { path, .. }
            | Error::Conflict { path }
            | Error::Lock { path, .. }
            | Error::Bucket { path, .. }
            | Error::WriterVersion { path, .. }
            | Error::FeatureMissing { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The error as printed with `--format json`:
    /// `{"error": {"message", "file", "exit_code", "problems": [{"message", "file"}]}}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let one = |e: &Error| {
            serde_json::json!({
                "message": Report(e).to_string(),
                "file": e.path(),
            })
        };
        let problems: Vec<serde_json::Value> = match self {
            Error::Rejected { problems } => problems.iter().map(one).collect(),
            _ => vec![one(self)],
        };
        serde_json::json!({
            "error": {
                "message": Report(self).to_string(),
                "file": self.path(),
                "exit_code": self.exit_code(),
                "problems": problems,
            }
        })
    }

    /// Build an [`Error::Io`] for `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Build an [`Error::Crate`].
    pub(crate) fn krate(path: impl Into<PathBuf>, problem: CrateProblem) -> Self {
        Error::Crate {
            path: path.into(),
            problem,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Displays an error with its chain of causes, one `Caused by:` line each, like cargo.
pub(crate) struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        if src.is_some() {
            write!(f, "\n\nCaused by:")?;
        }
        while let Some(e) = src {
            write!(f, "\n  {e}")?;
            src = e.source();
        }
        Ok(())
    }
}
