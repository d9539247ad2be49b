//! The commands: one module per subcommand. Floor 5 (with the opener,
//! [`crate::location`]): imports the catalogue, the registry and below.
//!
//! Each command takes an opened [`crate::registry::Registry`] (or a location) and a
//! [`crate::output::Shell`], and returns a report that serializes to the
//! command's `--format json` schema. A command that changes the registry
//! takes its [`crate::registry::Writer`] (the exclusive lock) first and writes
//! only through it; read-only commands never take it. No module here touches
//! a registry's files directly: every read and write goes through the
//! registry. (The inputs `add` and `mirror` read are read by the input floor;
//! `nginx-config` alone looks at real paths, the ones its block names.)

pub(crate) mod add;
pub(crate) mod doctor;
pub(crate) mod find;
pub(crate) mod foreign;
pub(crate) mod info;
pub(crate) mod init;
pub(crate) mod list;
pub(crate) mod mirror;
pub(crate) mod nginx;
pub(crate) mod reindex;
pub(crate) mod remove;
pub(crate) mod settings;
pub(crate) mod token;
pub(crate) mod verify;
pub(crate) mod yank;

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
