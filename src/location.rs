//! The opener: where a registry is (a folder, or `s3://bucket/prefix`), and
//! opening it. Floor 5 (with the commands): the one place that picks a
//! storage backend and installs the catalogue as the registry's change hook,
//! so that the registry itself never names either.
//!
//! A location is parsed once, at the command line's edge
//! ([`RegistryLocation::parse`]), then opened ([`RegistryLocation::open`]) or
//! created ([`RegistryLocation::create`]).

use crate::catalogue::Catalogue;
use crate::config::{RegistryConfig, Settings};
use crate::error::{Error, Result};
use crate::registry::{ChangeHook, Registry, Writer};
use crate::storage::local::LocalStorage;
use crate::storage::{LockEvents, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens the registry at `arg` (a folder, or `s3://bucket/prefix`): see
/// [`RegistryLocation::parse`] and [`RegistryLocation::open`].
///
/// # Errors
/// As those two.
pub(crate) fn open(arg: &Path) -> Result<Registry> {
    RegistryLocation::parse(arg)?.open()
}

/// A registry's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegistryLocation {
    /// A folder on this machine.
    Local(PathBuf),
    /// A prefix in an S3 bucket (any S3-protocol store; connection settings
    /// from the standard AWS environment, see [`crate::storage::s3`]).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl RegistryLocation {
    /// Parses a `--registry` / `REGTOOL_REGISTRY` / `DIR` argument:
    /// `s3://bucket[/prefix]` is a bucket, anything else a folder (write
    /// `./s3:/…` for a folder that happens to be named so).
    ///
    /// # Errors
    /// [`Error::Usage`] for an `s3://` URL without a bucket name, with a bucket
    /// name S3 does not allow, or with empty, `.` or `..` components in the prefix.
    pub(crate) fn parse(arg: &Path) -> Result<RegistryLocation> {
        let Some(rest) = arg.to_str().and_then(|s| s.strip_prefix("s3://")) else {
            return Ok(RegistryLocation::Local(arg.to_path_buf()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        let bad = |why: &str| Error::Usage(format!("`{}`: {why}", arg.display()));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if bucket.is_empty() {
            return Err(bad("no bucket name (write s3://BUCKET/PREFIX)"));
        }
        if !bucket_ok {
            return Err(bad(
                "not a valid S3 bucket name (3 to 63 lowercase letters, digits, `-` and `.`)",
            ));
        }
        if !prefix.is_empty()
            && prefix
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('.'))
        {
            return Err(bad("the prefix has an empty, `.`/`..` or hidden component"));
        }
        Ok(RegistryLocation::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Opens the registry here, with the catalogue as its change hook.
    ///
    /// # Errors
    /// [`Error::NotARegistry`] when there is none; [`Error::Config`] for a
    /// broken `config.json` or settings, or an S3 client that cannot be set
    /// up; [`Error::FeatureMissing`] for a bucket in a build without the `s3`
    /// feature; [`Error::Io`] naming the file that cannot be read.
    pub(crate) fn open(&self) -> Result<Registry> {
        Registry::open(self.storage()?, hook())
    }

    /// Opens the registry here even when its `config.json` is broken (for
    /// `verify`): see [`Registry::open_lenient`].
    ///
    /// # Errors
    /// As [`RegistryLocation::open`], but for a broken `config.json`, which
    /// comes back beside the registry.
    pub(crate) fn open_lenient(&self) -> Result<(Registry, Option<Error>)> {
        Registry::open_lenient(self.storage()?, hook())
    }

    /// Creates a registry here (see [`Registry::create`]), with the catalogue
    /// as its change hook; returns its writer.
    ///
    /// # Errors
    /// As [`Registry::create`]; [`Error::Config`] when the S3 client cannot
    /// be set up; [`Error::FeatureMissing`] for a bucket in a build without
    /// the `s3` feature (nothing is written).
    pub(crate) fn create(
        &self,
        config: RegistryConfig,
        settings: Settings,
        events: &dyn LockEvents,
    ) -> Result<Writer> {
        Registry::create(self.storage()?, hook(), config, settings, events)
    }

    /// The storage at this location. A folder needs nothing; a bucket gets an
    /// S3 client configured from the environment (no request is made yet),
    /// or, in a build without the `s3` feature, [`Error::FeatureMissing`].
    fn storage(&self) -> Result<Arc<dyn Storage>> {
        Ok(match self {
            RegistryLocation::Local(dir) => Arc::new(LocalStorage::new(dir)),
            #[cfg(feature = "s3")]
            RegistryLocation::S3 { bucket, prefix } => {
                Arc::new(crate::storage::s3::S3Storage::from_env(bucket, prefix)?)
            }
            #[cfg(not(feature = "s3"))]
            RegistryLocation::S3 { .. } => {
                return Err(Error::FeatureMissing {
                    path: PathBuf::from(self.to_string()),
                    feature: "s3",
                    needs: "a registry in an S3 bucket",
                    hint: "",
                });
            }
        })
    }
}

/// The change hook every registry regtool opens gets.
fn hook() -> Arc<dyn ChangeHook> {
    Arc::new(Catalogue::default())
}

impl std::fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryLocation::Local(dir) => write!(f, "{}", dir.display()),
            RegistryLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            RegistryLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            RegistryLocation::parse(Path::new("s3://acme-crates/registry")).unwrap(),
            RegistryLocation::S3 {
                bucket: "acme-crates".into(),
                prefix: "registry".into()
            },
        );
        assert!(matches!(
            RegistryLocation::parse(Path::new("./reg")),
            Ok(RegistryLocation::Local(_))
        ));
        assert!(RegistryLocation::parse(Path::new("s3:///registry")).is_err());
        assert!(RegistryLocation::parse(Path::new("s3://Bad_Bucket")).is_err());
        assert!(RegistryLocation::parse(Path::new("s3://bucket/a/../b")).is_err());
    }
}
