//! One module per subcommand. Each takes an opened [`crate::Registry`] (or a
//! folder) and a [`crate::output::Shell`], and returns a report that serializes
//! to the command's `--format json` schema. No module here touches the file
//! system: every read and write goes through [`crate::Registry`].

pub mod add;
pub mod doctor;
pub mod find;
pub mod foreign;
pub mod info;
pub mod init;
pub mod mirror;
pub mod nginx;
pub mod reindex;
pub mod remove;
pub mod settings;
pub mod token;
pub mod verify;
pub mod yank;

use crate::error::Result;
use crate::output::Shell;
use crate::registry::Registry;
use crate::storage::{LockEvents, LockGuard, LockMode};
use std::path::Path;

impl LockEvents for Shell {
    fn waiting(&self, what: &Path) {
        self.status(
            "Blocking",
            format!(
                "waiting for file lock on `{}` (another regtool is changing this registry; `fuser {}` shows which process)",
                what.display(),
                what.display()
            ),
        )
    }

    fn unsupported(&self, what: &Path, e: &std::io::Error) {
        self.warn(format!(
            "cannot lock `{}` ({e}); going on without a lock",
            what.display()
        ))
    }
}

/// Takes the registry lock, telling the user when it has to wait (with the lock's
/// path) and when the storage cannot lock.
///
/// # Errors
/// [`crate::Error::Io`] naming the lock file.
pub fn lock(reg: &Registry, shell: &Shell) -> Result<Box<dyn LockGuard>> {
    reg.lock(LockMode::Exclusive, shell)
}

/// Takes the registry lock shared (for `verify`): waits while a writer holds it.
///
/// # Errors
/// [`crate::Error::Io`] naming the lock file.
pub fn lock_shared(reg: &Registry, shell: &Shell) -> Result<Box<dyn LockGuard>> {
    reg.lock(LockMode::Shared, shell)
}

/// The current time as an index `pubtime` (`YYYY-MM-DDTHH:MM:SSZ`, UTC). Honors
/// `SOURCE_DATE_EPOCH` (seconds since 1970) for reproducible registries and tests.
pub fn pubtime_now() -> String {
    let ts = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    format_pubtime(ts)
}

/// Formats a timestamp as an index `pubtime`.
pub fn format_pubtime(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
