//! The commands: one module per subcommand. Floor 5 (with the opener,
//! [`crate::location`]): imports the catalogue, the registry and below.
//!
//! Each command takes an opened [`crate::Registry`] (or a location) and a
//! [`crate::output::Shell`], and returns a report that serializes to the
//! command's `--format json` schema. A command that changes the registry
//! takes its [`crate::registry::Writer`] (the exclusive lock) first and writes
//! only through it; read-only commands never take it. No module here touches
//! the file system: every read and write goes through the registry.

pub mod add;
pub mod doctor;
pub mod find;
pub mod foreign;
pub mod info;
pub mod init;
pub mod list;
pub mod mirror;
pub mod nginx;
pub mod reindex;
pub mod remove;
pub mod settings;
pub mod token;
pub mod verify;
pub mod yank;

use crate::output::Shell;
use crate::storage::LockEvents;
use std::path::Path;

/// What a command tells the user while it takes the registry's lock: that it
/// waits (with the lock's path), or that the storage cannot lock.
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
